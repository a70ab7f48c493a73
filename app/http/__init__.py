"""What the front doors share: the visitor cookie, API keys and CSRF, rate limits, security
headers, request ids and metrics, image downloads, record JSON, and the one error handler."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import Map

from app.http import bodies, callers, errors, headers, limits, observability, visitor


class _Paths(Map):
    """Paths as written: Werkzeug's default answers `//` with a 308 to an address built
    from the request's Host header (an attacker's, through a cache), and the API promises
    JSON, never a redirect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, merge_slashes=False, **kwargs)


class App(Flask):
    """Flask, reading forms with bodies.Request, and answering OPTIONS with 204 and Allow
    (Flask's default says the same with a 200 and an empty body)."""

    request_class = bodies.Request
    url_map_class = _Paths

    def make_default_options_response(self):
        response = super().make_default_options_response()
        response.status_code = 204
        return response


def init_app(app: Flask, doors: list[errors.FrontDoor]) -> None:
    visitor.init_app(app)
    headers.init_app(app)
    limits.init_app(app)
    errors.init_app(app, doors)
    observability.init_app(app)
    callers.init_app(app, body_check=bodies.readable_form)
