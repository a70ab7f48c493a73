"""JSON API v1 at /api/v1: the page's features for programs, described by an OpenAPI
document at /api/v1/openapi.json.

It answers with the same visitor identity (the signed `user_id` cookie), the same
ownership and limit rules and the same upload walk as the page; only the delivery differs:
status codes and JSON bodies, never a redirect or an HTML page.
"""

from flask import Flask

from app.api.errors import PREFIX
from app.api.routes import bp

__all__ = ["PREFIX", "bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix=PREFIX)
