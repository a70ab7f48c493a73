"""One upload, one straight walk: checks → engine → repository. Shared by the page's form
and the JSON API, so both apply the same rules and give the same answers.

Every expected failure becomes a `Rejected` with a status code, a stable error code and a
sentence for the visitor; the caller only decides how to deliver it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.datastructures import FileStorage

from app import extensions, imaging
from app.engines import EngineError
from app.observability import ENGINE_SECONDS, ENGINE_USED, UPLOADS
from app.output import InvalidOptions, OutputOptions
from app.storage import LimitReached, NewImage, Record, StorageUnavailable

log = logging.getLogger(__name__)

NAME_MAX = 50
SUCCESS = "Image generated successfully"
ENGINE_FAILED = "Failed to generate the image"
LIMIT_REACHED = "Max limit reached. Please remove a record."
UNEXPECTED = "Something went wrong"


class Rejected(Exception):
    def __init__(self, message: str, status: int, error: str):
        super().__init__(message)
        self.message, self.status, self.error = message, status, error


@dataclass(frozen=True)
class Uploaded:
    record: Record
    note: str  # set when a fallback engine served, for the visitor

    @property
    def message(self) -> str:
        return f"{SUCCESS}. {self.note}" if self.note else SUCCESS


def clean_name(value) -> str:
    """An image name: trimmed, 1 to 50 characters, or `Rejected`."""
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= NAME_MAX:
        raise Rejected(f"Please give the image a name of 1 to {NAME_MAX} characters.", 400,
                       "invalid_name")
    return name


def upload(visitor: str, name, file: FileStorage | None, fields: Mapping) -> Uploaded:
    """Check, cut out and store one upload for `visitor`, or raise `Rejected`."""
    try:
        uploaded = _upload(visitor, name, file, fields)
    except Rejected as exc:
        UPLOADS.labels(exc.error).inc()
        raise
    except StorageUnavailable:
        UPLOADS.labels("storage_unavailable").inc()
        raise
    UPLOADS.labels("success").inc()
    return uploaded


def _upload(visitor: str, name, file: FileStorage | None, fields: Mapping) -> Uploaded:
    settings = extensions.settings()
    records = extensions.records()
    try:
        name = clean_name(name)
        if file is None or not file.filename:
            raise Rejected("Please choose an image to upload.", 400, "missing_image")
        options = OutputOptions.parse(fields)
        # Checked before any engine work; the unique slot index settles parallel races.
        if records.count(visitor) >= settings.user_limit:
            raise LimitReached()
        data = file.read()
        info = imaging.inspect(data, settings.max_image_pixels)
        started = time.perf_counter()
        cutout = extensions.engine().remove(data, info, options)
        ENGINE_SECONDS.labels(cutout.engine).observe(time.perf_counter() - started)
        ENGINE_USED.labels(cutout.engine).inc()
        record = records.add(
            visitor, name,
            original=NewImage(data, info.content_type, info.width, info.height),
            processed=NewImage(cutout.data, cutout.content_type, cutout.width, cutout.height),
            engine=cutout.engine, limit=settings.user_limit, options=options.as_dict(),
        )
        return Uploaded(record, cutout.note)
    except (Rejected, StorageUnavailable):
        raise  # StorageUnavailable: one answer for every route, see errors.py
    except InvalidOptions as exc:
        raise Rejected(exc.message, 400, "invalid_options") from exc
    except imaging.InvalidImage as exc:
        raise Rejected(exc.message, exc.status, "invalid_image") from exc
    except LimitReached as exc:
        raise Rejected(LIMIT_REACHED, 409, "limit_reached") from exc
    except EngineError as exc:
        log.warning("Engine failed: %s", exc.message)
        raise Rejected(f"{ENGINE_FAILED}. {exc.message}", exc.status, "engine_failed") from exc
    except Exception as exc:
        log.exception("Upload failed unexpectedly")
        raise Rejected(UNEXPECTED, 500, "internal_error") from exc
