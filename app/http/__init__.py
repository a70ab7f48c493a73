"""What the front doors share: the visitor cookie, API keys and CSRF, rate limits, security
headers, request ids and metrics, image downloads, record JSON, and the one error handler."""

from __future__ import annotations

from flask import Flask

from app.http import bodies, callers, errors, headers, limits, observability, visitor


class App(Flask):
    """Flask, reading forms with bodies.Request, and answering OPTIONS with 204 and Allow
    (Flask's default says the same with a 200 and an empty body)."""

    request_class = bodies.Request

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
    bodies.init_app(app)  # before the CSRF check reads the form
    callers.init_app(app)
