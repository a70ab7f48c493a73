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
)

__all__ = ["KINDS", "LimitReached", "NewImage", "Record", "RecordNotFound", "RecordRepository",
           "StorageUnavailable", "StoredImage", "open_database"]
