"""Upload rate limits, per visitor and per client address, shared by every route that makes
a result: uploads, and edits that change how a result looks."""

from __future__ import annotations

import functools
import math
import time

from flask import Flask, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from prometheus_client import Counter

from app.core.forms import EditRequest, restyles
from app.http.bodies import json_object
from app.http.context import services
from app.http.visitor import current_visitor
from app.images.decoding import declared_pixels
from app.metrics import EDITS, UPLOADS

RATE_LIMITED = "Too many uploads in a short time. Please wait a minute and try again."
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
# An upload counts once for every 4 megapixels it declares, started: a phone photo (12 MP)
# counts 3, a 49 MP one 13, so big photos cannot take a limit's worth of work each.
PIXELS_PER_COUNT = 4_000_000


def _visitor_key() -> str:
    return f"visitor:{current_visitor()}"


def _ip_key() -> str:
    return f"ip:{get_remote_address()}"


def _body_question(unreadable):
    """A limit's question about the request's body, worked out once per request (both
    limits ask), and answered `unreadable` when the body cannot be read (too large, nested
    past the JSON parser, cut off): flask-limiter takes any error from here for a broken
    store and starts counting afresh in memory, which would hand the sender a new
    allowance. The view then refuses the body in its own words."""
    def wrap(question):
        key = f"limits{question.__name__}"

        @functools.wraps(question)
        def asked():
            if key not in g:
                try:
                    g.setdefault(key, question())
                except Exception:  # whatever it is, it must not reach the limiter
                    g.setdefault(key, unreadable)
            return g.get(key)
        return asked
    return wrap


@_body_question(unreadable=1)
def _cost() -> int:
    """Counts for this upload."""
    file = request.files.get("image")
    pixels = declared_pixels(file.stream) if file else 0
    return max(1, math.ceil(pixels / PIXELS_PER_COUNT))


@_body_question(unreadable=False)
def _only_renames() -> bool:
    """An edit that changes nothing but the name makes no new result (like PUT /update):
    not counted. The fields an edit form knows are looked at (JSON keys; a form's non-blank
    fields and its files); a body that cannot be read counts, and is refused by the view."""
    if request.is_json:
        body = json_object()
        if body is None:
            return False
        sent = set(body)
    else:
        sent = {name for name, value in request.form.items() if value.strip()}
        sent |= set(request.files)
    return not restyles(sent & EditRequest.model_fields.keys())


def _limits(counter: Counter, exempt_when=None):
    """Both limits, shared by every route that makes a result (the page's form and the
    API), so switching from one to the other does not start a fresh count; a refusal is
    counted in `counter` (uploads or edits)."""
    def refused(_limit) -> None:
        counter.labels("rate_limited").inc()

    common = {"error_message": RATE_LIMITED, "cost": _cost, "exempt_when": exempt_when,
              "on_breach": refused}
    per_visitor = limiter.shared_limit(lambda: services().settings.upload_rate_limit,
                                       scope="uploads-per-visitor", key_func=_visitor_key,
                                       **common)
    per_address = limiter.shared_limit(lambda: services().settings.upload_rate_limit_ip,
                                       scope="uploads-per-address", key_func=_ip_key, **common)
    # Per visitor and per client address: a new cookie does not reset the second.
    return lambda view: per_address(per_visitor(view))


limit_uploads = _limits(UPLOADS)
limit_edits = _limits(EDITS, exempt_when=_only_renames)


def seconds_to_wait() -> int:
    """Until the limit that was hit lets an upload through again, rounded up once (not
    `reset_at`, which flask-limiter rounds up a second of its own: 61 for a fresh minute)."""
    hit = limiter.current_limit
    return max(1, math.ceil(hit.window.reset_time - time.time())) if hit else 60


def init_app(app: Flask) -> None:
    uri = app.extensions["services"].settings.ratelimit_storage_uri
    app.config["RATELIMIT_STORAGE_URI"] = uri
    # A fixed window lets a visitor send twice the limit across a window's edge (its end,
    # then the next one's start); a moving window counts the last minute, whenever it is.
    app.config["RATELIMIT_STRATEGY"] = "moving-window"
    # A shared store that is down must not stop uploads: each process then counts in its
    # own memory (limits per process, not per cluster) and looks for the store again, at
    # growing intervals, until it is back. A dead store costs one short timeout to notice.
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    # The limiter would put its own Retry-After on every answer of a limited route, even a
    # 201 or a 503 that says when the queue frees; a 429 gets it from seconds_to_wait().
    app.config["RATELIMIT_HEADER_RETRY_AFTER"] = "X-RateLimit-Retry-After"
    if uri.startswith(("redis://", "rediss://")):
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 0.3,
                                                   "socket_timeout": 0.3}
    limiter.init_app(app)
