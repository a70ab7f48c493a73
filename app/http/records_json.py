"""Records as JSON, with image URLs instead of bytes: the shape both the page's JSON answers
and the API return, declared once (the OpenAPI document is generated from these models)."""

from __future__ import annotations

from typing import Literal

from flask import url_for
from pydantic import BaseModel, ConfigDict, Field

from app import storage
from app.core.fields import NAME_MAX
from app.core.forms import OutputOptions
from app.images.decoding import ACCEPTED_FORMATS
from app.images.thumbnails import SIZES
from app.model_files import MODELS

CONTENT_TYPES = tuple(sorted(set(ACCEPTED_FORMATS.values())))
_VIEW = ConfigDict(extra="forbid")

MODEL_NAMES = ", ".join(f"`{name}`" for name in MODELS)  # as the document lists them


class Image(BaseModel):
    model_config = _VIEW

    url: str = Field(description="The bytes (`GET`), cacheable, with an ETag.")
    download_url: str = Field(
        description="The same bytes as an attachment named after the record.")
    thumbnails: dict[Literal[tuple(str(size) for size in SIZES)], str] = Field(
        description="Small WebP renditions (longest side in pixels -> URL), for galleries.")
    content_type: Literal[CONTENT_TYPES]
    size: int = Field(ge=0, description="Bytes.")
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Record(BaseModel):
    model_config = _VIEW

    id: str = Field(pattern=storage.ID_PATTERN)
    image_name: str = Field(min_length=1, max_length=NAME_MAX)
    created_on: str = Field(pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
                            description="`YYYY-MM-DD HH:MM:SS`, UTC (the original app's "
                                        "format).")
    engine: str = Field(description="What removed the background: `local` or `rapidapi`.")
    model: str | None = Field(description="The local engine's model that made the mask "
                                          f"({MODEL_NAMES}); null for RapidAPI's.")
    options: OutputOptions = Field(description="How the processed image was made.")
    original: Image
    processed: Image


class CreatedRecord(Record):
    note: str = Field(description="Empty, or why a fallback engine made the image instead of "
                                  "the usual one.")


def record_json(record: storage.StoredRecord, image_endpoint: str,
                note: str | None = None) -> dict:
    """`image_endpoint` is the route the image URLs point to (the renditions': the
    `thumbnail` route of the same blueprint): the page's `/images/...` or the API's own.
    With a `note`, the answer to a create."""
    def image(kind: str) -> Image:
        stored = record.image(kind)
        return Image.model_construct(
            url=url_for(image_endpoint, record_id=record.id, kind=kind),
            download_url=url_for(image_endpoint, record_id=record.id, kind=kind, download=1),
            thumbnails={str(size): url_for(f"{image_endpoint.rsplit('.', 1)[0]}.thumbnail",
                                           record_id=record.id, kind=kind, size=size)
                        for size in SIZES},
            content_type=stored.content_type, size=stored.size, width=stored.width,
            height=stored.height)

    fields = dict(
        id=record.id, image_name=record.image_name, created_on=record.created_on,
        engine=record.engine, model=record.model,
        # Records made before output options existed were all made with the defaults.
        options=OutputOptions.model_construct(**record.options),  # defaults fill the rest
        **{kind: image(kind) for kind in storage.KINDS})
    # Built without validation: what is stored was validated when it was made, and a
    # record of the original app must still be listed even if its metadata is odd.
    if note is None:
        return Record.model_construct(**fields).model_dump(mode="json")
    return CreatedRecord.model_construct(**fields, note=note).model_dump(mode="json")
