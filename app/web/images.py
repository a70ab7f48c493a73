"""`/images/<id>/<kind>`: the bytes behind the page's pictures and download buttons."""

from __future__ import annotations

from flask import Blueprint

from app.http.downloads import send_image

bp = Blueprint("images", __name__)


@bp.get("/images/<record_id>/<kind>")
def image(record_id: str, kind: str):
    return send_image(record_id, kind)
