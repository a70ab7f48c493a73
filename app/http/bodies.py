"""Reading request bodies safely: JSON objects of a bounded size and depth, uploaded files."""

from __future__ import annotations

import json

from flask import request
from werkzeug.datastructures import MultiDict

# A rename body is a name; anything much bigger is not one.
JSON_BODY_LIMIT = 16 * 1024


def json_object() -> dict | None:
    """The request's body as a JSON object, or None when it is not one: malformed, nested
    too deep for the parser (which Flask's get_json lets escape as a 500), or too big."""
    if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
        return None
    raw = request.get_data()  # kept: the rate limits read it before the view does
    if len(raw) > JSON_BODY_LIMIT:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def file_bytes(files: MultiDict, name: str) -> bytes | None:
    """The bytes of the file in field `name`; None when no file was chosen (browsers send
    the field with an empty file name then)."""
    file = files.get(name)
    if file is None or not file.filename:
        return None
    return file.read()
