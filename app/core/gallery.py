"""A visitor's records as the doors show them: one record, its images (renditions made on
demand for records older than them), deleting. A record that is not the visitor's is not
found (`refusals`)."""

from __future__ import annotations

from app.core.errors import Rejected, not_found
from app.core.results import refusals
from app.engines import Admission, Work
from app.images import thumbnails
from app.images.decoding import InvalidImage
from app.storage import (
    KINDS,
    RecordNotFound,
    RecordRepository,
    StoredImage,
    StoredRecord,
    maintenance,
)


class Gallery:
    def __init__(self, records: RecordRepository, admission: Admission):
        self.records = records
        # Renditions made on demand (for records older than them) are decoding work too.
        self.admission = admission

    def get(self, visitor: str, record_id: str) -> StoredRecord:
        with refusals("Lookup"):
            return self.records.get(visitor, record_id)

    def delete(self, visitor: str, record_id: str) -> None:
        with refusals("Delete"):
            self.records.delete(visitor, record_id)

    def image(self, visitor: str, record_id: str, kind: str,
              size: int | None = None) -> tuple[StoredRecord, StoredImage]:
        """The record and the metadata of its `kind` image, or of that image's rendition
        of `size` (made now if the record predates renditions). Bytes: `read`."""
        with refusals("Image"):
            record = self.records.get(visitor, record_id)
            if kind not in KINDS:  # a record's kept mask and backdrop are not for download
                raise RecordNotFound(kind)
            if size is None:
                return record, record.image(kind)
            if size not in thumbnails.SIZES:
                raise RecordNotFound(record_id)
            if record.thumbnail(kind, size) is None:
                record = self._make_thumbnails(record, kind)
            return record, record.thumbnail(kind, size)

    def read(self, record: StoredRecord, kind: str, size: int | None = None) -> bytes:
        with refusals("Image"):  # the record may have been deleted a moment ago
            return self.records.read(record, kind, size)

    def fill_thumbnails(self) -> tuple[int, int]:
        """Renditions for every record that lacks them: (records done, images that could
        not be read, e.g. damaged documents of the original app)."""
        done = failed = 0
        for record in maintenance.lacking_thumbnails(self.records):
            for kind in (kind for kind in KINDS if not record.thumbnails.get(kind)):
                try:
                    with refusals("Thumbnails"):
                        record = self._make_thumbnails(record, kind)
                except Rejected:
                    failed += 1
            done += 1
        return done, failed

    def _make_thumbnails(self, record: StoredRecord, kind: str) -> StoredRecord:
        stored = record.image(kind)
        try:
            with self.admission.admitted(Work(stored.width * stored.height), learn=False):
                made = thumbnails.of_stored(self.records.read(record, kind))
        except InvalidImage:  # a damaged document of the original app: no picture to make
            raise not_found() from None
        return self.records.add_thumbnails(record, kind, made)
