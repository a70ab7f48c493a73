"""The app's services, and whether the request may set the session, for the request being
answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request

if TYPE_CHECKING:  # the services import the core: a module of app.http need not load it
    from app.services import Services


def services() -> Services:
    return current_app.extensions["services"]


def brings_session() -> bool:
    """Whether the request may set the session: a change to one it did not bring would
    replace the visitor's own, and its CSRF secret with it, on a cross-site form post (the
    Lax cookie stays home; the browser still takes the answer's: helper 76). Every page's
    own post brings it, since the page's GET set it."""
    return (request.method in ("GET", "HEAD", "OPTIONS")
            or current_app.config["SESSION_COOKIE_NAME"] in request.cookies)
