"""Where records and image bytes are kept."""

from app.storage.database import open_database
from app.storage.records import (
    KINDS,
    LimitReached,
    NewImage,
    Record,
    RecordNotFound,
    RecordRepository,
    StoredImage,
)

__all__ = ["KINDS", "LimitReached", "NewImage", "Record", "RecordNotFound", "RecordRepository",
           "StoredImage", "open_database"]
