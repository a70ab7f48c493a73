"""Records as JSON, with image URLs instead of bytes."""

from __future__ import annotations

from flask import url_for

from app.storage import KINDS, Record


def record_json(record: Record) -> dict:
    def image(kind: str) -> dict:
        stored = record.image(kind)
        return {
            "url": url_for("images.image", record_id=record.id, kind=kind),
            "download_url": url_for("images.image", record_id=record.id, kind=kind,
                                    download=1),
            "content_type": stored.content_type,
            "size": stored.size,
            "width": stored.width,
            "height": stored.height,
        }

    return {
        "id": record.id,
        "image_name": record.image_name,
        "created_on": record.created_on,
        "engine": record.engine,
        "options": record.options,
        **{kind: image(kind) for kind in KINDS},
    }
