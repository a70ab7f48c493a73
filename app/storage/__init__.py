"""Where records and image bytes are kept."""

from app.storage.database import open_database
from app.storage.documents import (
    ID_PATTERN,
    KINDS,
    RecordNotFound,
    StoredImage,
    StoredRecord,
    is_id,
    new_id,
)
from app.storage.outages import StorageUnavailable
from app.storage.records import RecordRepository, StaleRecord
from app.storage.slots import LimitReached

__all__ = ["ID_PATTERN", "KINDS", "LimitReached", "RecordNotFound", "RecordRepository",
           "StaleRecord", "StorageUnavailable", "StoredImage", "StoredRecord", "is_id",
           "new_id", "open_database"]
