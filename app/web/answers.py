"""How a request is answered: a flash and a redirect for the page's form, JSON for scripts.

The page's form follows the original's contract (always 302 back to `/` with a flash
message); a client that asks for JSON gets the fitting status code and a body with a stable
`error` code and a `message` a person can read.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, request, url_for


def wants_json() -> bool:
    if request.method in ("PUT", "DELETE") or request.is_json or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_error(error: str, message: str, status: int):
    return jsonify(error=error, message=message), status


def back_to_page(message: str, category: str, status: int, error: str):
    """Answer the form post: JSON clients get `status`, browsers a flash and 302 to `/`."""
    if wants_json():
        if status < 400:
            return jsonify(message=message), status
        return json_error(error, message, status)
    flash(message, category)
    return redirect(url_for("pages.index"))
