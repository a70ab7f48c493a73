"""Who the visitor is: an id kept in the signed `user_id` cookie.

The original stored the bare id, so anyone could type another visitor's id into the cookie.
Here the cookie carries the id plus an HMAC made with APP_SECRET_KEY; a cookie that does not
verify is ignored and its bearer gets a new, empty gallery.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeSerializer

from app.http.callers import caller
from app.http.context import brings_session
from app.storage import is_id, new_id

COOKIE = "user_id"
MAX_AGE = 365 * 24 * 3600  # the gallery outlives a browser restart, as users expect


def current_visitor() -> str:
    """The visitor's id, creating one (and its cookie) on the first visit; a program's
    records are its API key's, whatever cookie it sends."""
    if "visitor" not in g:
        key = caller()
        visitor = key.visitor if key is not None else _read_cookie()
        g.new_visitor = visitor is None
        g.visitor = visitor or new_id()
    return g.visitor


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="visitor-id")


def _read_cookie() -> str | None:
    try:
        value = _serializer().loads(request.cookies.get(COOKIE, ""))
    except BadSignature:
        return None
    return value if is_id(value) else None


def _set_cookie(response):
    if g.get("new_visitor"):
        response.set_cookie(COOKIE, _serializer().dumps(g.visitor), max_age=MAX_AGE,
                            httponly=True, samesite="Lax", secure=request.is_secure)
    return response


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's session cookie (it holds the CSRF secret), Secure whenever the request came
    over HTTPS, so the same build works behind TLS and on http://127.0.0.1 alike."""

    def get_cookie_secure(self, app):
        return request.is_secure

    def should_set_cookie(self, app, session) -> bool:
        return brings_session() and super().should_set_cookie(app, session)


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.after_request(_set_cookie)
