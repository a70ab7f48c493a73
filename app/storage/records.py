"""RecordRepository: a visitor's processed images, over any pymongo-compatible database.

A record document keeps names, dates and image metadata; the image bytes live in GridFS,
so a large photo never comes near MongoDB's 16 MB document limit. Every read and write is
scoped by `user_id`: a record that is not the visitor's is, to them, a record that does
not exist. Documents in the original app's layout (both images base64-encoded inside the
document) are still listed, served, renamed and deleted; `flask migrate-images` moves
them to GridFS (see legacy.py).
"""

from __future__ import annotations

import functools
import itertools
import logging
from datetime import datetime, timedelta, timezone

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure, DuplicateKeyError, WTimeoutError

from app.storage import legacy
from app.storage.documents import KINDS, NewImage, Record, RecordNotFound, slot_key

log = logging.getLogger(__name__)

COLLECTION = "img_converter"  # the original app's collection name
BUCKET = "images"
CREATED_ON_FORMAT = "%Y-%m-%d %H:%M:%S"


class LimitReached(Exception):
    """The visitor already has as many records as the limit allows."""


class StorageUnavailable(Exception):
    """The database cannot be reached; nothing was read or changed."""


def _outages_are_unavailable(method):
    """pymongo's "cannot reach the server" errors, as the one error callers handle."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except ConnectionFailure as exc:  # includes server selection and network timeouts
            raise StorageUnavailable(str(exc)) from exc

    return wrapper


class RecordRepository:
    def __init__(self, database, collection: str = COLLECTION, bucket: str = BUCKET):
        self.records = database[collection]
        self.files = gridfs.GridFS(database, collection=bucket)
        self._indexed = False

    @_outages_are_unavailable
    def ping(self) -> None:
        """Raise `StorageUnavailable` if the database cannot be reached."""
        self.records.database.command("ping")
        self.ensure_indexes()

    @_outages_are_unavailable
    def ensure_indexes(self) -> None:
        """Create the indexes once per process (idempotent on the server)."""
        if self._indexed:
            return
        self.records.create_index([("user_id", ASCENDING)], name="user_id")
        # The limit is enforced by this unique index: a record takes one of its visitor's
        # numbered slots ("<user_id>/<n>"), so two parallel uploads cannot take the same
        # one. Sparse, because documents in the original layout have no slot.
        self.records.create_index([("slot", ASCENDING)], unique=True, sparse=True,
                                  name="slot_unique")
        self._indexed = True

    @_outages_are_unavailable
    def count(self, user_id: str) -> int:
        return self.records.count_documents({"user_id": user_id})

    @_outages_are_unavailable
    def list(self, user_id: str) -> list[Record]:
        docs = self.records.find({"user_id": user_id}).sort("_id", DESCENDING)
        return [_record(doc) for doc in docs]

    @_outages_are_unavailable
    def get(self, user_id: str, record_id: str) -> Record:
        doc = self.records.find_one(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        return _record(doc)

    @_outages_are_unavailable
    def add(self, user_id: str, image_name: str, original: NewImage, processed: NewImage,
            engine: str, limit: int, options: dict | None = None,
            thumbnails: dict | None = None) -> Record:
        """Store both images, their `thumbnails` ({kind: {size: NewImage}}) and their
        record, or raise and store nothing."""
        # Without the unique index the limit could not hold: no index, no insert.
        self.ensure_indexes()
        file_ids: list = []
        try:
            images = {kind: self._put(image, user_id, kind, file_ids)
                      for kind, image in (("original", original), ("processed", processed))}
            small = {kind: {str(size): self._put(image, user_id, "thumbnail", file_ids)
                            for size, image in sizes.items()}
                     for kind, sizes in (thumbnails or {}).items()}
            doc = {
                "user_id": user_id,
                "image_name": image_name,
                "created_on": datetime.now(timezone.utc).strftime(CREATED_ON_FORMAT),
                "engine": engine,
                "options": options or {},
                **images,
                "thumbnails": small,
            }
            record = self._insert_in_free_slot(doc, limit)
            return Record.from_doc(record)
        except (ConnectionFailure, WTimeoutError):
            # The insert may have been applied before the connection broke: deleting the
            # bytes could leave a record without them. Keep them; if no record refers to
            # them, `flask sweep-orphans` removes them later.
            log.warning("Upload interrupted by the database; kept files %s", file_ids)
            raise
        except BaseException:
            # Bytes without a record would be orphans no one can see or delete.
            for file_id in file_ids:
                self._delete_file(file_id)
            raise

    @_outages_are_unavailable
    def add_thumbnails(self, record: Record, kind: str, sizes: dict[int, NewImage]) -> Record:
        """Store renditions a record made before they existed lacks; if another request
        stored them first, keep theirs."""
        file_ids: list = []
        small = {str(size): self._put(image, record.user_id, "thumbnail", file_ids)
                 for size, image in sizes.items()}
        query = {**self._owned(record.user_id, record.id),
                 f"thumbnails.{kind}": {"$exists": False}}
        if self.records.update_one(query, {"$set": {f"thumbnails.{kind}": small}}
                                   ).modified_count == 0:
            for file_id in file_ids:
                self._delete_file(file_id)
        return self.get(record.user_id, record.id)

    @_outages_are_unavailable
    def lacking_thumbnails(self) -> list[Record]:
        """Every record (of any visitor) made before renditions existed."""
        query = {"$or": [{f"thumbnails.{kind}": {"$exists": False}} for kind in KINDS]}
        return [_record(doc) for doc in self.records.find(query)]

    def _put(self, image: NewImage, user_id: str, kind: str, file_ids: list) -> dict:
        """Store `image`'s bytes (noting the file in `file_ids`); its part of a document."""
        file_id = self.files.put(image.data, metadata={"user_id": user_id, "kind": kind})
        file_ids.append(file_id)
        return {"file_id": file_id, "content_type": image.content_type,
                "size": len(image.data), "width": image.width, "height": image.height}

    def free_slots(self, user_id: str, limit: int | None = None):
        """The visitor's slot keys not taken yet, lowest first (all numbers when `limit` is
        None). A parallel writer may still take one first: callers retry on
        DuplicateKeyError, which the unique index raises."""
        taken = {found.get("slot") for found in
                 self.records.find({"user_id": user_id}, {"slot": 1, "_id": 0})}
        numbers = range(limit) if limit is not None else itertools.count()
        return (slot for n in numbers if (slot := slot_key(user_id, n)) not in taken)

    def _insert_in_free_slot(self, doc: dict, limit: int) -> dict:
        for slot in self.free_slots(doc["user_id"], limit):
            try:
                record = {**doc, "slot": slot}
                self.records.insert_one(record)
                return record
            except DuplicateKeyError:
                continue
        raise LimitReached()

    @_outages_are_unavailable
    def rename(self, user_id: str, record_id: str, image_name: str) -> None:
        result = self.records.update_one(self._owned(user_id, record_id),
                                         {"$set": {"image_name": image_name}})
        if result.matched_count == 0:
            raise RecordNotFound(record_id)

    @_outages_are_unavailable
    def delete(self, user_id: str, record_id: str) -> None:
        doc = self.records.find_one_and_delete(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        for file_id in _file_ids(doc):
            self._delete_file(file_id)
        for leftover in legacy.leftover_files(self.files, doc["_id"]):
            self._delete_file(leftover)

    @_outages_are_unavailable
    def read(self, record: Record, kind: str, thumbnail: int | None = None) -> bytes:
        """The bytes of the record's `kind` image, or of its `thumbnail` rendition."""
        stored = record.image(kind) if thumbnail is None else record.thumbnail(kind, thumbnail)
        if stored is None:
            raise RecordNotFound(record.id)
        if stored.file_id:
            try:
                return self.files.get(ObjectId(stored.file_id)).read()
            except (NoFile, CorruptGridFile):
                # Deleted between reading the record and reading its bytes.
                raise RecordNotFound(record.id) from None
        data = legacy.read(self.records, self._owned(record.user_id, record.id), kind)
        if data is None:
            raise RecordNotFound(record.id)
        return data

    @_outages_are_unavailable
    def sweep_orphans(self, older_than: timedelta) -> int:
        """Delete image files no record refers to, stored more than `older_than` ago (an
        upload in progress has stored its files but not yet its record). Orphans come from
        a process that died mid-upload or an outage during the clean-up. Returns the count."""
        referenced = set()
        for doc in self.records.find({}, {"original.file_id": 1, "processed.file_id": 1,
                                          "thumbnails": 1}):
            referenced.update(_file_ids(doc))
            referenced.add(doc["_id"])  # files an interrupted migration stored for it
        cutoff = datetime.now(timezone.utc) - older_than
        swept = 0
        for stored in self.files.find({"uploadDate": {"$lte": cutoff}}):
            owner = (stored.metadata or {}).get("legacy_id")
            if stored._id in referenced or (owner is not None and owner in referenced):
                continue
            self._delete_file(stored._id)
            swept += 1
        return swept

    def _delete_file(self, file_id) -> None:
        try:
            self.files.delete(file_id)
        except Exception:
            log.exception("Could not delete image file %s", file_id)

    @staticmethod
    def _owned(user_id: str, record_id: str) -> dict:
        try:
            oid = ObjectId(record_id)
        except (InvalidId, TypeError):
            raise RecordNotFound(record_id) from None
        return {"_id": oid, "user_id": user_id}


def _file_ids(doc: dict) -> list:
    """The GridFS files a document refers to: its images and their renditions."""
    ids = [doc[kind]["file_id"] for kind in KINDS if isinstance(doc.get(kind), dict)]
    for sizes in (doc.get("thumbnails") or {}).values():
        ids += [image["file_id"] for image in sizes.values()]
    return ids


def _record(doc: dict) -> Record:
    return legacy.record(doc) if legacy.is_legacy(doc) else Record.from_doc(doc)
