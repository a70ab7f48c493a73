"""The app's services, for the request being answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:  # the services import the core: a module of app.http need not load it
    from app.services import Services


def services() -> Services:
    return current_app.extensions["services"]
