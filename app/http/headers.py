"""Headers every response carries: browser security policy, and caching rules for pages
that are one visitor's own."""

from __future__ import annotations

from flask import Flask, request

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


def _security_headers(response):
    if response.status_code == 204:  # no content, so no type (Flask gives every answer one)
        response.headers.pop("Content-Type", None)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    # Pages and JSON hold one visitor's gallery and CSRF token: no cache may keep them, and
    # what a cache does keep (images, revalidated) depends on the visitor's cookie. Static
    # files are the same for everyone and set their own caching.
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_security_headers)
