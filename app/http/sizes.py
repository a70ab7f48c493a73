"""Sizes as people write them, and the answer to a body over the upload limit."""

from __future__ import annotations

from flask import current_app, request

from app.core.errors import human_size

# The upload form has a dozen fields of a few bytes each; anything far beyond is not it.
MAX_FORM_PARTS = 50
# Werkzeug also applies it to its read buffer (64 KB chunks), so it stays well above that.
MAX_FORM_MEMORY_SIZE = 256 * 1024


def too_large_message() -> str:
    """What was too large: the body (the file, in practice), or the form's fields."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    fields = human_size(request.max_form_memory_size or MAX_FORM_MEMORY_SIZE)
    if request.mimetype == "application/x-www-form-urlencoded":  # no file: all text
        return (f"The form is too large: it may have at most {MAX_FORM_PARTS} fields and "
                f"{fields} in all. Nothing was uploaded.")
    if length is not None and length <= limit:
        return (f"The form is too large: it may have at most {MAX_FORM_PARTS} fields, each "
                f"text field at most {fields}. Nothing was uploaded.")
    return f"The file is too large. Please upload an image of at most {human_size(limit)}."
