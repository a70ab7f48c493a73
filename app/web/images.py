"""`/images/<id>/<kind>[/<size>]`: the bytes behind the page's pictures and downloads."""

from __future__ import annotations

from flask import Blueprint

from app.http.downloads import send_image

bp = Blueprint("images", __name__)


@bp.get("/images/<record_id>/<kind>")
def image(record_id: str, kind: str):
    return send_image(record_id, kind)


@bp.get("/images/<record_id>/<kind>/<int:size>")
def thumbnail(record_id: str, kind: str, size: int):
    """What the gallery shows: a small WebP rendition (the full image is behind a click)."""
    return send_image(record_id, kind, size)
