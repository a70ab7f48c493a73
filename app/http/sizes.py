"""Sizes as people write them, and the answer to a body over the upload limit."""

from __future__ import annotations

from flask import current_app


def human_size(size: int) -> str:
    """15728640 -> "15 MB"."""
    if size >= 1024**2:
        return f"{size / 1024**2:.3g} MB"
    return f"{size / 1024:.3g} KB"


def too_large_message() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return f"The file is too large. Please upload an image of at most {human_size(limit)}."
