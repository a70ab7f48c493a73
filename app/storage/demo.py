"""The demo store's bound: with no MONGO_URI, images live in the worker's own memory, and
without a bound any visitor could fill it (a new session per two records) until the
container is killed, and every record with it. The store keeps at most `capacity` bytes
of images; beyond it, the oldest records of other visitors make room, except records an
edit is remaking. A visitor never loses a record to their own upload or edit, so the store
goes past the bound by at most the uploader's own records and the work in flight.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator

from bson import ObjectId

from app.images.outputs import EncodedImage
from app.storage import slots
from app.storage.documents import RecordNotFound, StoredRecord
from app.storage.records import RecordRepository

log = logging.getLogger(__name__)


class BoundedDemoRepository(RecordRepository):
    def __init__(self, database, capacity: int):
        super().__init__(database, embedded=True)
        self.capacity = capacity
        self._sizes: dict = {}  # file id -> bytes, for every image file stored
        self._stored = 0  # their sum, kept as they come and go: asked at every upload
        self._in_use: Counter = Counter()  # record id -> edits remaking it now
        # Reentrant: making room deletes records, which lets their files go.
        self._lock = threading.RLock()

    @property
    def stored_bytes(self) -> int:
        return self._stored

    @contextlib.contextmanager
    def _room(self, images, user_id: str) -> Iterator[None]:
        """Room made for a record's files together, and held while they are stored: two
        uploads at once could otherwise both find the last room free."""
        with self._lock:
            self._make_room(sum(len(image.data) for image in images), user_id)
            yield

    def add(self, user_id: str, image_name: str, original: EncodedImage,
            processed: EncodedImage, *args, thumbnails: dict | None = None,
            extras: dict | None = None, **kwargs) -> StoredRecord:
        with self._room([original, processed, *(extras or {}).values(), *(
                image for sizes in (thumbnails or {}).values() for image in sizes.values())],
                user_id):
            return super().add(user_id, image_name, original, processed, *args,
                               thumbnails=thumbnails, extras=extras, **kwargs)

    def replace_result(self, record: StoredRecord, processed: EncodedImage, thumbnails: dict,
                       changes: dict, extras: dict) -> StoredRecord:
        with self._room([processed, *thumbnails.values(), *extras.values()], record.user_id):
            return super().replace_result(record, processed, thumbnails, changes, extras)

    def add_thumbnails(self, record: StoredRecord, kind: str,
                       sizes: dict[int, EncodedImage]) -> StoredRecord:
        with self._room(sizes.values(), record.user_id):
            return super().add_thumbnails(record, kind, sizes)

    def _put(self, image: EncodedImage, user_id: str, kind: str, stored: list) -> dict:
        with self._lock:
            part = super()._put(image, user_id, kind, stored)
            self._sizes[part["file_id"]] = part["size"]
            self._stored += part["size"]
            return part

    def delete_file(self, file_id) -> None:
        with self._lock:
            super().delete_file(file_id)
            self._stored -= self._sizes.pop(file_id, 0)

    @contextlib.contextmanager
    def in_use(self, record_id: str) -> Iterator[None]:
        with self._lock:
            self._in_use[record_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_use[record_id] -= 1
                if not self._in_use[record_id]:
                    del self._in_use[record_id]

    def _make_room(self, needed: int, user_id: str) -> None:
        # Files larger than the whole store still take the others' room: left alone, a run
        # of them from new sessions grew it without bound (helper 88).
        evicted = []
        busy = [ObjectId(record_id) for record_id in self._in_use]
        while self.stored_bytes + needed > self.capacity:
            oldest = self.records.find_one(
                {"user_id": {"$ne": user_id}, "_id": {"$nin": busy}, **slots.NOT_HELD},
                {"_id": 1, "user_id": 1}, sort=[("_id", 1)])
            # None: only this visitor's own records are left, or records in work.
            if oldest is None or oldest["_id"] in evicted:
                break
            with contextlib.suppress(RecordNotFound):  # deleted by its visitor meanwhile
                self.delete(oldest["user_id"], str(oldest["_id"]))
            evicted.append(oldest["_id"])
        if evicted:  # each upload once the store is full: not a warning every time
            log.info("The demo store holds %g MB at most (DEMO_STORE_MB): removed the %d "
                     "oldest records of other visitors.", self.capacity / 2**20, len(evicted))
