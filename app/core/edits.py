"""Change a record: its name, and how its result looks. The result is made again from the
stored photo and the kept mask (the model does not run again; records made before masks
were kept get theirs now, once), and it replaces the old one only once it is stored."""

from __future__ import annotations

from app.core.errors import Rejected
from app.core.fields import NEEDS_BACKDROP
from app.core.forms import EditFields, OutputOptions, parse
from app.core.results import (
    Allowance,
    Paying,
    backdrop_of,
    counted,
    cut_out,
    encoded,
    mask_image,
    photo_of,
    priced,
    refusals,
)
from app.engines import EngineRunner, Masked
from app.images.decoding import Photo, decode_mask
from app.metrics import EDITS
from app.storage import RecordRepository, StoredRecord


class EditService:
    def __init__(self, records: RecordRepository, engines: EngineRunner, *,
                 max_image_pixels: int):
        self.records, self.engines = records, engines
        self.max_image_pixels = max_image_pixels

    def edit(self, visitor: str, record_id: str, request: EditFields,
             pay: Allowance) -> StoredRecord:
        """The record after `request`, or `Rejected` (nothing changed). A new look is
        priced like an upload of the same pixels (`pay`); a new name alone is free, and so
        is asking for the look the record already has."""
        if not request.restyles:
            return self.rename(visitor, record_id, request.image_name)
        with Paying(pay).fee_if_refused() as pay, counted(EDITS), refusals("Edit"):
            record = self.records.get(visitor, record_id)
            current = parse(OutputOptions, record.options)
            options = request.options(current)
            # A background photo is read for output image alone, as an upload's is.
            given = request.backdrop if options.output == "image" else None
            if options == current and given is None:
                # The same photo, mask and options make the same result: making it again
                # would charge for bytes the record already holds (and change its ETag).
                if request.image_name is None:
                    return record
                return self.records.rename(visitor, record_id, request.image_name)
            backdrop = None
            if given is not None:
                pay.before_reading()  # as an upload's: a file is read only with an allowance
                backdrop = backdrop_of(given, self.max_image_pixels)
            # Priced from the stored sizes before any bytes are read: a client without an
            # allowance left costs no reads, decodes or migration.
            pay.check(priced(options, *_pixels(record, options, backdrop), remade=True))
            with self.records.in_use(record.id):
                return self._restyle(self.records.in_current_layout(record), options,
                                     backdrop, request.image_name, pay)

    def rename(self, visitor: str, record_id: str, name: str) -> StoredRecord:
        """A new name, and nothing else: the page's rename and the API's edit alike."""
        with counted(EDITS), refusals("Rename"):
            return self.records.rename(visitor, record_id, name)

    def _restyle(self, record: StoredRecord, options: OutputOptions, given: Photo | None,
                 name: str | None, pay: Allowance) -> StoredRecord:
        """The record made again; `given`, a new background photo, is stored with it."""
        backdrop = given
        if backdrop is None and options.output == "image":
            if record.backdrop is None:
                raise Rejected(NEEDS_BACKDROP.code, NEEDS_BACKDROP.message)
            backdrop = photo_of(self.records.read(record, "backdrop"), self.max_image_pixels,
                                stored=True)
        photo = photo_of(self.records.read(record, "original"), self.max_image_pixels,
                         stored=True)
        kept = None
        if record.mask is not None:
            kept = Masked(decode_mask(self.records.read(record, "mask")), record.engine,
                          model=record.model)
        model = record.model if record.model in self.engines.models() else None
        made = cut_out(self.engines, photo, options, pay=pay, thumbnails=("processed",),
                       backdrop=backdrop if options.output == "image" else None, mask=kept,
                       model=model)
        extras = {}
        if kept is None:
            extras["mask"] = mask_image(made.masked.mask)
        if given is not None:
            extras["backdrop"] = encoded(given)
        changes = {"options": options.model_dump(), "engine": made.masked.engine,
                   "model": made.masked.model}
        if name is not None:
            changes["image_name"] = name
        return self.records.replace_result(
            record, made.result, made.thumbnails["processed"], changes, extras)


def _pixels(record: StoredRecord, options: OutputOptions,
            backdrop: Photo | None) -> tuple[int, int]:
    """The pixels a new look works on: the photo's, and the background photo's (a new one,
    or the kept one) for output `image`."""
    behind = 0
    if options.output == "image":
        if backdrop is not None:
            behind = backdrop.info.pixels
        elif record.backdrop is not None:
            behind = record.backdrop.width * record.backdrop.height
    return record.original.width * record.original.height, behind
