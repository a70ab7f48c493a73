"""One upload, one straight walk: check → mask → compose → store.

Every expected failure becomes a `Rejected` with a stable code, a sentence for the visitor
and the kind of problem; the front door that called only decides how to deliver it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.core.errors import (
    BUSY,
    ENGINE_FAILED,
    LIMIT_REACHED,
    SUCCESS,
    UNEXPECTED,
    Rejected,
)
from app.core.forms import OutputOptions, UploadRequest
from app.engines import Busy, EngineError, EngineRunner, Masked
from app.images import thumbnails as renditions
from app.images.compose import Rendered, render
from app.images.decoding import InvalidImage, Photo, probe
from app.metrics import UPLOADS
from app.storage import LimitReached, NewImage, Record, RecordRepository, StorageUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Uploaded:
    record: Record
    note: str  # set when a fallback engine served, for the visitor

    @property
    def message(self) -> str:
        return f"{SUCCESS}. {self.note}" if self.note else SUCCESS


@dataclass(frozen=True)
class Cutout:
    result: Rendered
    masked: Masked
    thumbnails: dict  # {kind: {size: Rendered}}, when asked for


def cut_out(engines: EngineRunner, photo: Photo, options: OutputOptions,
            thumbnails: bool = False) -> Cutout:
    """Mask `photo` and compose the result `options` ask for, and its gallery renditions
    (the walk minus storage)."""
    def finish(masked: Masked) -> Cutout:
        full = photo.full()
        small = renditions.of_upload(full, masked.mask, options) if thumbnails else {}
        return Cutout(render(full, masked.mask, options), masked, small)

    return engines.make(photo, finish)


def _new(image: Rendered) -> NewImage:
    return NewImage(image.data, image.content_type, image.width, image.height)


class UploadService:
    def __init__(self, records: RecordRepository, engines: EngineRunner, *, user_limit: int,
                 max_image_pixels: int):
        self.records, self.engines = records, engines
        self.user_limit, self.max_image_pixels = user_limit, max_image_pixels

    def upload(self, visitor: str, request: UploadRequest) -> Uploaded:
        """Cut out and store `request` for `visitor`, or raise `Rejected` (or
        `StorageUnavailable`, which every route answers the same way)."""
        try:
            uploaded = self._upload(visitor, request)
        except Rejected as exc:
            UPLOADS.labels(exc.code).inc()
            raise
        except StorageUnavailable:
            UPLOADS.labels("storage_unavailable").inc()
            raise
        UPLOADS.labels("success").inc()
        return uploaded

    def _upload(self, visitor: str, request: UploadRequest) -> Uploaded:
        options = request.options
        try:
            # Checked before any engine work; the unique slot index settles parallel races.
            if self.records.count(visitor) >= self.user_limit:
                raise LimitReached()
            photo = Photo(request.image, probe(request.image, self.max_image_pixels))
            made = cut_out(self.engines, photo, options, thumbnails=True)
            info = photo.info
            record = self.records.add(
                visitor, request.name,
                original=NewImage(photo.data, info.content_type, info.width, info.height),
                processed=_new(made.result), engine=made.masked.engine,
                limit=self.user_limit, options=options.model_dump(),
                thumbnails={kind: {size: _new(image) for size, image in sizes.items()}
                            for kind, sizes in made.thumbnails.items()})
            return Uploaded(record, made.masked.note)
        except StorageUnavailable:
            raise
        except InvalidImage as exc:
            raise Rejected("invalid_image", exc.message, exc.kind) from exc
        except LimitReached as exc:
            raise Rejected("limit_reached", LIMIT_REACHED, "conflict") from exc
        except Busy as exc:
            raise Rejected("busy", BUSY.format(seconds=exc.retry_after), "busy",
                           retry_after=exc.retry_after) from exc
        except EngineError as exc:
            log.warning("Engine failed: %s", exc.message)
            raise Rejected("engine_failed", f"{ENGINE_FAILED}. {exc.message}",
                           exc.kind) from exc
        except Exception as exc:
            log.exception("Upload failed unexpectedly")
            raise Rejected("internal_error", UNEXPECTED, "unexpected") from exc
