"""A visitor's records: list, look up, rename, delete. The page's legacy routes and the
API call these same functions; a record that is not the visitor's is not found."""

from __future__ import annotations

from app.core.errors import not_found
from app.core.forms import RenameRequest
from app.storage import Record, RecordNotFound, RecordRepository


class Gallery:
    def __init__(self, records: RecordRepository):
        self.records = records

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
        try:
            self.records.rename(visitor, record_id, request.image_name)
            return self.records.get(visitor, record_id)
        except RecordNotFound:
            raise not_found() from None

    def delete(self, visitor: str, record_id: str) -> None:
        try:
            self.records.delete(visitor, record_id)
        except RecordNotFound:
            raise not_found() from None

    def image(self, visitor: str, record_id: str, kind: str) -> tuple[Record, object]:
        """The record and the metadata of its `kind` image (bytes: `read`)."""
        record = self.get(visitor, record_id)
        try:
            return record, record.image(kind)
        except RecordNotFound:
            raise not_found() from None

    def read(self, record: Record, kind: str) -> bytes:
        try:
            return self.records.read(record, kind)
        except RecordNotFound:  # deleted a moment ago
            raise not_found() from None
