"""One upload, one straight walk: check → mask → compose → store.

Every expected failure becomes a `Rejected` with a stable code, a sentence for the visitor
and the kind of problem (results.py); the front door that called only decides how to deliver
it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.errors import SUCCESS, Rejected
from app.core.fields import size_pixels
from app.core.forms import UploadRequest
from app.core.removal import RemoveRequest
from app.core.results import (
    BACKDROP_FAILED,
    Allowance,
    Paying,
    backdrop_of,
    check_model,
    counted,
    cut_out,
    encoded,
    mask_image,
    photo_of,
    refusals,
)
from app.engines import EngineRunner, Masked
from app.images.decoding import Photo, scaled
from app.images.outputs import EncodedImage
from app.metrics import UPLOADS
from app.storage import KINDS, LimitReached, RecordRepository, StoredRecord


@dataclass(frozen=True)
class Uploaded:
    record: StoredRecord
    note: str  # set when a fallback engine served, for the visitor

    @property
    def message(self) -> str:
        return f"{SUCCESS}. {self.note}" if self.note else SUCCESS


@dataclass(frozen=True)
class Removed:
    result: EncodedImage
    masked: Masked  # which engine and model made the mask, and any fallback note
    seconds: float  # from asking for a turn to the encoded result


class UploadService:
    def __init__(self, records: RecordRepository, engines: EngineRunner, *, user_limit: int,
                 max_image_pixels: int, fetch: Callable[[str, str | None], bytes]):
        self.records, self.engines = records, engines
        self.user_limit, self.max_image_pixels = user_limit, max_image_pixels
        self.fetch = fetch  # (url, holder) -> bytes, or Rejected (core/fetching)

    def upload(self, visitor: str, request: UploadRequest,
               pay: Allowance) -> Uploaded:
        """Cut out and store `request` for `visitor`, or raise `Rejected` (or
        `StorageUnavailable`, which every route answers the same way). `pay` is asked for
        the work's rate-limit counts once every check that spends nothing has passed."""
        with Paying(pay).fee_if_refused() as pay, counted(UPLOADS), refusals("Upload"):
            options = request.options
            if self.records.count(visitor) >= self.user_limit:
                raise LimitReached()
            photo, backdrop = self._photos(request, pay)
            # Held while the result is made: parallel uploads past the limit stop here.
            with self.records.reserved(visitor, self.user_limit) as slot:
                made = cut_out(self.engines, photo, options, pay=pay,
                               thumbnails=KINDS, backdrop=backdrop,
                               model=request.model)
                extras = {"mask": mask_image(made.masked.mask)}
                if backdrop is not None:
                    extras["backdrop"] = encoded(backdrop)
                record = self.records.add(
                    visitor, request.name, original=encoded(photo),
                    processed=made.result, engine=made.masked.engine,
                    limit=self.user_limit, options=options.model_dump(),
                    model=made.masked.model, slot=slot,
                    thumbnails=made.thumbnails,
                    extras=extras)
            return Uploaded(record, made.masked.note)

    def remove(self, request: RemoveRequest, pay: Allowance) -> Removed:
        """The result `request` asks for, at its size, stored nowhere (so no gallery limit
        applies); or `Rejected`. A photo over the size is scaled down before the work, and
        priced by the pixels worked on; `pay` as for `upload`."""
        with Paying(pay).fee_if_refused() as pay, refusals("Removal"):
            photo, backdrop = self._photos(request, pay)
            cap = size_pixels(request.size)
            if cap is not None:
                photo = scaled(photo, cap)
            started = time.monotonic()
            made = cut_out(self.engines, photo, request.options, pay=pay, backdrop=backdrop,
                           model=request.model)
            return Removed(made.result, made.masked, time.monotonic() - started)

    def _photos(self, request: UploadRequest | RemoveRequest,
                pay: Paying) -> tuple[Photo, Photo | None]:
        """The request's checked photo, and its background photo for output `image`."""
        check_model(self.engines, request.model)
        # Only a client with an allowance left has its photo checked (that takes a file's
        # reading) or fetched: any job costs at least 1. A photo by address is fetched
        # with the same size limit as an upload, before any work slot is taken, in a
        # bounded number of threads (core/fetching/gate.py).
        pay.before_reading()
        data = (request.image if request.image is not None
                else self.fetch(request.image_url, pay.holder()))
        photo = photo_of(data, self.max_image_pixels)
        if request.output != "image":
            return photo, None
        behind = request.background_image
        if behind is None:  # a removal's background photo by address, fetched alike
            try:
                behind = self.fetch(request.background_image_url, pay.holder())
            except Rejected as exc:
                raise Rejected(exc.code, BACKDROP_FAILED + exc.message, exc.kind,
                               exc.retry_after, "background_image_url") from exc
        return photo, backdrop_of(behind, self.max_image_pixels)
