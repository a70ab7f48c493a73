"""image-background-processor: upload a photo, get it back without its background.

Importing the package loads nothing heavy (gunicorn's master imports `app.hosting`, the
model fetcher is build tooling: `python -m scripts.models`); `create_app` builds the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.settings import Settings


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config`: a `Settings`, a mapping of environment variables, or
    None for the process environment (and `.env`)."""
    from app.factory import build_app

    return build_app(config)
