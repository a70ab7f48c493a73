"""Who is calling: a visitor (the signed cookie, and a CSRF token for what changes things)
or a program with an API key (app/storage/keys.py).

A key is sent as `Authorization: Bearer KEY` or `X-Api-Key: KEY`, and only to a door that
takes keys (`FrontDoor.keys`); it is never read from a cookie or a query string. A key is not
an ambient credential, as a cookie is (a browser never adds it to a request on its own), so a
request with a valid key needs no CSRF token; its records are the key's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import MethodNotAllowed, NotFound

from app.core.errors import Rejected
from app.http.context import services
from app.http.errors import door
from app.storage.keys import ApiKey, Usage

csrf = CSRFProtect()
# Where a visitor's CSRF token and a program's key are sent, as every door and document say.
CSRF_HEADER, KEY_HEADER = "X-CSRFToken", "X-Api-Key"
MISSING = ("This call needs an API key: send it as 'Authorization: Bearer KEY' or in the "
           f"{KEY_HEADER} header.")
INVALID = "This API key is not valid: it is unknown or has been revoked."
NOT_BEARER = ("Send the API key as 'Authorization: Bearer KEY' (or in the "
              f"{KEY_HEADER} header); no other kind of Authorization is read here.")
EMPTY = ("The API key sent is empty: is the variable that should hold it set? Send it as "
         f"'Authorization: Bearer KEY' or in the {KEY_HEADER} header.")
TWO_KEYS = f"Two different API keys were sent (in Authorization and {KEY_HEADER}): send one."
TWO_IN_ONE = (f"Two different API keys were sent in {KEY_HEADER} (the header twice, or "
              "values joined by a comma): send one.")


def caller() -> ApiKey | None:
    """The key the request came with, once checked; None for a visitor."""
    return g.get("api_key")


@dataclass(frozen=True)
class Account:
    key: ApiKey
    day: str  # UTC, YYYY-MM-DD
    today: Usage
    # What the daily cap still allows, as the limit counts it (app/http/limits.py: one per
    # started megapixel over the last 24 hours); None without a cap.
    left: int | None = None

    def described(self) -> dict:
        """The key as every door shows it: the API's account, remove.bg's `key` block."""
        key, used = self.key, self.today
        return {"name": key.name, "key_prefix": key.shown, "per_minute": key.per_minute,
                "megapixels_per_day": key.megapixels_per_day, "megapixels_left": self.left,
                "today": {"day": self.day, "calls": used.calls,
                          "megapixels": used.megapixels}}


def _given() -> str | None:
    """The key in the request's headers, as sent; None if there is none."""
    bearer = None
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Rejected("invalid_key", NOT_BEARER, "unauthorized")
        bearer = value.strip()
    header = None
    if KEY_HEADER in request.headers:
        # The header sent twice arrives as one, its values joined by commas (no key has one).
        sent = {value.strip() for value in request.headers[KEY_HEADER].split(",")
                if value.strip()} or {""}  # an empty value beside a key is no second key
        if len(sent) > 1:
            raise Rejected("invalid_key", TWO_IN_ONE, "unauthorized")
        (header,) = sent
    if bearer is not None and header is not None and bearer != header:
        raise Rejected("invalid_key", TWO_KEYS, "unauthorized")
    return bearer if bearer is not None else header


def _check() -> None:
    # A request served inside an app context already open (a test's, a command's) shares
    # its `g`: nothing of the last request's caller is carried over.
    g.pop("api_key", None)
    g.pop("token_due", None)
    here = door()
    if request.endpoint in here.keyless or request.method == "OPTIONS":
        return  # open to all (and safe: no unsafe method is keyless; OPTIONS says Allow)
    if isinstance(request.routing_exception, (NotFound, MethodNotAllowed)):
        return  # no such path or method: its 404 or 405 (the paths are public, in /openapi.json)
    given = _given() if here.keys else None
    if given is None:
        needed = here.key_required or (
            here.keys and services().settings.api_require_key)
        if needed:
            raise Rejected("missing_key", MISSING, "unauthorized")
        g.token_due = True
        return
    if not given:  # `X-Api-Key: $KEY` with $KEY unset is not an unknown key
        raise Rejected("invalid_key", EMPTY, "unauthorized")
    key = services().keys.find(given)
    if key is None:
        raise Rejected("invalid_key", INVALID, "unauthorized")
    g.api_key = key


def _token() -> None:
    """A caller without a key sends the CSRF token (after the body's check: it reads the
    form)."""
    config = current_app.config
    # WTF_CSRF_ENABLED=False turns the check off, as it does Flask-WTF's own hook.
    if (g.pop("token_due", False) and config["WTF_CSRF_ENABLED"]
            and request.method in config["WTF_CSRF_METHODS"] and request.endpoint):
        csrf.protect()


def init_app(app: Flask, *, body_check: Callable[[], None]) -> None:
    """The key first, so that a caller refused for it has no body read (up to the upload
    limit at remove.bg's door); then `body_check`; then the token, which reads the form."""
    # The token is checked here, for callers without a key, instead of by Flask-WTF's own
    # hook, which would ask every request for one.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_check)
    app.before_request(body_check)
    app.before_request(_token)
