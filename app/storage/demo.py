"""The demo store's bound: with no MONGO_URI, images live in the worker's own memory, and
without a bound any visitor could fill it (a new session per two records) until the
container is killed, and every record with it. The store keeps at most `capacity` bytes
of images; beyond it, the oldest records of other visitors make room. A visitor never
loses a record to their own upload or edit: past the bound by at most their own records.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from app.images.outputs import EncodedImage
from app.storage import slots
from app.storage.documents import RecordNotFound
from app.storage.records import RecordRepository

log = logging.getLogger(__name__)


class BoundedDemoRepository(RecordRepository):
    def __init__(self, database, capacity: int):
        super().__init__(database, embedded=True)
        self.capacity = capacity
        self._sizes: dict = {}  # file id -> bytes, for every image file stored
        # Reentrant: making room deletes records, which lets their files go.
        self._lock = threading.RLock()

    @property
    def stored_bytes(self) -> int:
        return sum(self._sizes.values())

    def _put(self, image: EncodedImage, user_id: str, kind: str, stored: list) -> dict:
        with self._lock:
            self._make_room(len(image.data), user_id)
            part = super()._put(image, user_id, kind, stored)
            self._sizes[part["file_id"]] = part["size"]
            return part

    def delete_file(self, file_id) -> None:
        with self._lock:
            super().delete_file(file_id)
            self._sizes.pop(file_id, None)

    def _make_room(self, needed: int, user_id: str) -> None:
        evicted = []
        while self.stored_bytes + needed > self.capacity:
            oldest = self.records.find_one({"user_id": {"$ne": user_id}, **slots.NOT_HELD},
                                           {"_id": 1, "user_id": 1}, sort=[("_id", 1)])
            # None: only this visitor's own records are left, or uploads in flight.
            if oldest is None or oldest["_id"] in evicted:
                break
            with contextlib.suppress(RecordNotFound):  # deleted by its visitor meanwhile
                self.delete(oldest["user_id"], str(oldest["_id"]))
            evicted.append(oldest["_id"])
        if evicted:
            log.warning("The demo store holds %d MB at most (DEMO_STORE_MB): removed the "
                        "%d oldest records of other visitors.", self.capacity // 10**6,
                        len(evicted))
