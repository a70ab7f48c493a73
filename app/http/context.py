"""The app's services, for the request being answered."""

from __future__ import annotations

from flask import current_app

from app.services import Services


def services() -> Services:
    return current_app.extensions["services"]
