"""Where records and image bytes are kept."""

from app.storage.database import open_database
from app.storage.records import (
    KINDS,
    LimitReached,
    NewImage,
    Record,
    RecordNotFound,
    RecordRepository,
    StorageUnavailable,
    StoredImage,
    is_id,
    new_id,
)

__all__ = ["KINDS", "LimitReached", "NewImage", "Record", "RecordNotFound", "RecordRepository",
           "StorageUnavailable", "StoredImage", "is_id", "new_id", "open_database"]
