"""Upload rate limits, per visitor and per client address, shared by every upload route."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.http.context import services
from app.http.errors import RATE_LIMITED
from app.http.visitor import current_visitor

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def _visitor_key() -> str:
    return f"visitor:{current_visitor()}"


def _ip_key() -> str:
    return f"ip:{get_remote_address()}"


# Shared by every upload route (the page's form and the API), so switching from one to the
# other does not start a fresh count.
_per_visitor = limiter.shared_limit(lambda: services().settings.upload_rate_limit,
                                    scope="uploads-per-visitor", key_func=_visitor_key,
                                    error_message=RATE_LIMITED)
_per_address = limiter.shared_limit(lambda: services().settings.upload_rate_limit_ip,
                                    scope="uploads-per-address", key_func=_ip_key,
                                    error_message=RATE_LIMITED)


def limit_uploads(view):
    """Per visitor and per client address: a new cookie does not reset the second."""
    return _per_address(_per_visitor(view))


def init_app(app: Flask) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = app.extensions["services"].settings.ratelimit_storage_uri
    limiter.init_app(app)
