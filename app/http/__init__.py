"""What the front doors share: the visitor cookie, API keys and CSRF, rate limits, security
headers, request ids and metrics, image downloads, record JSON, and the one error handler."""

from __future__ import annotations

from flask import Flask

from app.http import bodies, callers, errors, headers, limits, observability, visitor


def init_app(app: Flask, doors: list[errors.FrontDoor]) -> None:
    visitor.init_app(app)
    headers.init_app(app)
    limits.init_app(app)
    errors.init_app(app, doors)
    observability.init_app(app)
    bodies.init_app(app)  # before the CSRF check reads the form
    callers.init_app(app)
