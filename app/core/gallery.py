"""A visitor's records: list, look up, rename, delete. The page's legacy routes and the
API call these same functions; a record that is not the visitor's is not found."""

from __future__ import annotations

from app.core.errors import Rejected, busy, not_found
from app.core.forms import RenameRequest
from app.core.making import counted, new_image
from app.engines import Admission, Busy, Work
from app.images import thumbnails
from app.images.decoding import InvalidImage
from app.metrics import EDITS
from app.storage import KINDS, Record, RecordNotFound, RecordRepository, StoredImage, maintenance


class Gallery:
    def __init__(self, records: RecordRepository, admission: Admission):
        self.records = records
        # Renditions made on demand (for records older than them) are decoding work too.
        self.admission = admission

    def list(self, visitor: str) -> list[Record]:
        return self.records.list(visitor)

    def count(self, visitor: str) -> int:
        return self.records.count(visitor)

    def get(self, visitor: str, record_id: str) -> Record:
        try:
            return self.records.get(visitor, record_id)
        except RecordNotFound:
            raise not_found() from None

    def rename(self, visitor: str, record_id: str, request: RenameRequest) -> Record:
        with counted(EDITS):
            try:
                return self.records.rename(visitor, record_id, request.image_name)
            except RecordNotFound:
                raise not_found() from None

    def delete(self, visitor: str, record_id: str) -> None:
        try:
            self.records.delete(visitor, record_id)
        except RecordNotFound:
            raise not_found() from None

    def image(self, visitor: str, record_id: str, kind: str,
              size: int | None = None) -> tuple[Record, StoredImage]:
        """The record and the metadata of its `kind` image, or of that image's rendition
        of `size` (made now if the record predates renditions). Bytes: `read`."""
        record = self.get(visitor, record_id)
        try:
            if kind not in KINDS:  # a record's kept mask and backdrop are not for download
                raise RecordNotFound(kind)
            if size is None:
                return record, record.image(kind)
            if size not in thumbnails.SIZES:
                raise RecordNotFound(record_id)
            if record.thumbnail(kind, size) is None:
                record = self._make_thumbnails(record, kind)
            return record, record.thumbnail(kind, size)
        except RecordNotFound:
            raise not_found() from None

    def read(self, record: Record, kind: str, size: int | None = None) -> bytes:
        try:
            return self.records.read(record, kind, size)
        except RecordNotFound:  # deleted a moment ago
            raise not_found() from None

    def fill_thumbnails(self) -> tuple[int, int]:
        """Renditions for every record that lacks them: (records done, images that could
        not be read, e.g. damaged documents of the original app)."""
        done = failed = 0
        for record in maintenance.lacking_thumbnails(self.records):
            for kind in (kind for kind in ("original", "processed")
                         if not record.thumbnails.get(kind)):
                try:
                    record = self._make_thumbnails(record, kind)
                except Rejected:
                    failed += 1
            done += 1
        return done, failed

    def _make_thumbnails(self, record: Record, kind: str) -> Record:
        stored = record.image(kind)
        try:
            with self.admission.turn(Work(stored.width * stored.height), learn=False):
                made = thumbnails.of_stored(self.records.read(record, kind))
        except InvalidImage:  # a damaged document of the original app: no picture to make
            raise not_found() from None
        except Busy as exc:
            raise busy(exc.retry_after) from exc
        return self.records.add_thumbnails(
            record, kind, {size: new_image(image) for size, image in made.items()})
