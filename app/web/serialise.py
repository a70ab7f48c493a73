"""Records as JSON, with image URLs instead of bytes."""

from __future__ import annotations

from flask import url_for

from app.output import DEFAULT
from app.storage import KINDS, Record


def record_json(record: Record, image_endpoint: str = "images.image") -> dict:
    """`image_endpoint` is the route the image URLs point to: the page's `/images/...` or
    the JSON API's own."""
    def image(kind: str) -> dict:
        stored = record.image(kind)
        return {
            "url": url_for(image_endpoint, record_id=record.id, kind=kind),
            "download_url": url_for(image_endpoint, record_id=record.id, kind=kind,
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
        # Records made before output options existed were all made with the defaults.
        "options": {**DEFAULT.as_dict(), **record.options},
        **{kind: image(kind) for kind in KINDS},
    }
