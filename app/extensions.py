"""The objects `create_app` builds once and the request handlers share."""

from __future__ import annotations

from flask import current_app

from app.config import Settings
from app.engines import BackgroundRemover
from app.storage import RecordRepository


def settings() -> Settings:
    return current_app.extensions["settings"]


def records() -> RecordRepository:
    return current_app.extensions["records"]


def engine() -> BackgroundRemover:
    return current_app.extensions["engine"]


def demo_storage() -> bool:
    """True when records live in the embedded store and vanish with the process."""
    return current_app.extensions["demo_storage"]
