"""Browser security headers and upload rate limits."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app import extensions
from app.web.visitor import current_visitor

# Scripts and styles only from this site, so injected markup cannot run; blob: for the
# preview of a chosen file, data: for Bootstrap's inline SVG icons.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
RATE_LIMITED = "Too many uploads in a short time. Please wait a minute and try again."

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def _visitor_key() -> str:
    return f"visitor:{current_visitor()}"


def _ip_key() -> str:
    return f"ip:{get_remote_address()}"


# Shared by every upload route (the page's form and the API), so switching from one to the
# other does not start a fresh count.
_per_visitor = limiter.shared_limit(lambda: extensions.settings().upload_rate_limit,
                                    scope="uploads-per-visitor", key_func=_visitor_key,
                                    error_message=RATE_LIMITED)
_per_address = limiter.shared_limit(lambda: extensions.settings().upload_rate_limit_ip,
                                    scope="uploads-per-address", key_func=_ip_key,
                                    error_message=RATE_LIMITED)


def limit_uploads(view):
    """Per visitor and per client address: a new cookie does not reset the second."""
    return _per_address(_per_visitor(view))


def _security_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    settings = app.extensions["settings"]
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_uri
    limiter.init_app(app)
    app.after_request(_security_headers)
