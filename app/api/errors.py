"""Every failure under /api/ answers JSON `{"error": "<stable code>", "message": "..."}`.

Flask only sends an error to a blueprint's handlers when a route of that blueprint matched,
and then looks handlers up by status code before class: an app-wide handler registered for
one status (the page's CSRF and too-large handlers) would win over a blueprint handler for
`HTTPException`. So the API registers its handler for every status code, answers routing
failures (unknown path, wrong method) under its prefix itself, and a last check turns any
other error response under /api/ into JSON, whatever handler produced it.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    default_exceptions,
)

from app.web.errors import rate_limited, too_large
from app.web.records import NOT_FOUND

PREFIX = "/api/v1"
NO_ENDPOINT = f"There is no such API endpoint. The API is described at {PREFIX}/openapi.json."
CSRF_HELP = (f"Get a token from GET {PREFIX}/session, keep the cookies it sets, and send the "
             "token in the X-CSRFToken header.")
UNEXPECTED = "Something went wrong"
# Stable codes for errors that do not come with one of their own.
CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error(code: str, message: str, status: int, headers: dict | None = None):
    response = jsonify(error=code, message=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _code(status: int) -> str:
    if status in CODES:
        return CODES[status]
    exc = default_exceptions.get(status)
    return exc.name.lower().replace(" ", "_") if exc else f"http_{status}"


def http_error(exc: HTTPException):
    """A failure inside one of the API's routes, or in a before-request check on them."""
    if isinstance(exc, RateLimitExceeded):
        return rate_limited(exc)  # the page's answer, which is JSON under /api/
    if isinstance(exc, CSRFError):
        # 403, not flask-wtf's 400: the request is understood, its sender is not trusted.
        return error("csrf_failed", f"{exc.description} {CSRF_HELP}", 403)
    if isinstance(exc, RequestEntityTooLarge):
        return too_large(exc)  # the page's answer, which is JSON under /api/
    if isinstance(exc, NotFound):
        return error("not_found", NOT_FOUND, 404)
    if isinstance(exc, MethodNotAllowed):
        return _method_not_allowed(exc)
    if isinstance(exc, InternalServerError) or exc.code is None or exc.code >= 500:
        # Flask has logged the traceback; the client gets no internals.
        return error("internal_error", UNEXPECTED, 500)
    # Keep headers such as Retry-After; the body is ours, so not its Content-Type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error(_code(exc.code), exc.description or exc.name, exc.code, headers)


def _method_not_allowed(exc: MethodNotAllowed):
    allowed = sorted(set(exc.valid_methods or ()) - {"OPTIONS"})
    return error("method_not_allowed",
                 f"{request.method} is not allowed here. Allowed: {', '.join(allowed)}.",
                 405, {"Allow": ", ".join(allowed)})


def _under_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def routing_failure():
    """Unknown paths and wrong methods under /api/: no API route matched, so no blueprint
    handler would see them; answer before the app's HTML error page can."""
    exc = request.routing_exception
    if exc is None or not _under_api():
        return None
    if isinstance(exc, MethodNotAllowed):
        return _method_not_allowed(exc)
    if isinstance(exc, NotFound):
        return error("not_found", NO_ENDPOINT, 404)
    return None  # a redirect (e.g. a missing trailing slash) is not an error


def json_only(response):
    """Whatever produced an error under /api/ (an app-wide handler for an exception class
    added later, say), the client gets JSON with a stable code."""
    if _under_api() and response.status_code >= 400 and not response.is_json:
        status = response.status_code
        message = UNEXPECTED if status >= 500 else (response.status or str(status))
        replacement = error(_code(status), message, status)
        for name in ("Allow", "Retry-After"):
            if name in response.headers:
                replacement.headers[name] = response.headers[name]
        return replacement
    return response


def init_blueprint(bp: Blueprint) -> None:
    for status in default_exceptions:
        bp.register_error_handler(status, http_error)
    bp.register_error_handler(HTTPException, http_error)
    bp.before_app_request(routing_failure)
    bp.after_app_request(json_only)
