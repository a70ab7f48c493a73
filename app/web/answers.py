"""How a request is answered: a flash and a redirect for the page's form, JSON for scripts.

The page's form follows the original's contract (always 302 back to `/` with a flash
message); a client that asks for JSON gets the fitting status code and a body with a stable
`error` code and a `message` a person can read.
"""

from __future__ import annotations

import json

from flask import flash, jsonify, redirect, request, url_for


def wants_json() -> bool:
    if request.method in ("PUT", "DELETE") or request.is_json or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


# A rename body is a name; anything much bigger is not one.
JSON_BODY_LIMIT = 16 * 1024


def json_object() -> dict | None:
    """The request's body as a JSON object, or None when it is not one: malformed, nested
    too deep for the parser (which Flask's get_json lets escape as a 500), or too big."""
    if request.content_length is not None and request.content_length > JSON_BODY_LIMIT:
        return None
    raw = request.get_data(cache=False)
    if len(raw) > JSON_BODY_LIMIT:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def json_error(error: str, message: str, status: int):
    return jsonify(error=error, message=message), status


def back_to_page(message: str, category: str, status: int, error: str):
    """Answer the form post: JSON clients get `status`, browsers a flash and 302 to `/`."""
    if wants_json():
        return json_error(error, message, status)
    flash(message, category)
    return redirect(url_for("pages.index"))
