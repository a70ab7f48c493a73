"""What the front doors share: the visitor cookie, API keys and CSRF, rate limits, security
headers, request ids and metrics, image downloads, record JSON, and the one error handler."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from app.http import bodies, callers, errors, headers, limits, observability, visitor


class _Number(IntegerConverter):
    """A number as written once: ASCII digits, no leading zero. Werkzeug's takes any
    Unicode digit and leading zeros, so /160, /0160 and /١٦٠ were one rendition at three
    addresses (three entries in every cache)."""

    regex = r"(?:0|[1-9][0-9]*)"


class _Paths(Map):
    """Paths as written: Werkzeug's default answers `//` with a 308 to an address built
    from the request's Host header (an attacker's, through a cache), and the API promises
    JSON, never a redirect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, merge_slashes=False, **kwargs)
        self.converters["int"] = _Number


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
