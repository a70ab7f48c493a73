"""RecordRepository: a visitor's processed images, over any pymongo-compatible database.

A record document keeps names, dates and image metadata; the image bytes live in GridFS,
so a large photo never comes near MongoDB's 16 MB document limit. Every read and write is
scoped by `user_id`: a record that is not the visitor's is, to them, a record that does
not exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

COLLECTION = "img_converter"  # the original app's collection name
BUCKET = "images"
KINDS = ("original", "processed")
CREATED_ON_FORMAT = "%Y-%m-%d %H:%M:%S"


class RecordNotFound(LookupError):
    """No record with that id belongs to this visitor."""


class LimitReached(Exception):
    """The visitor already has as many records as the limit allows."""


@dataclass(frozen=True)
class NewImage:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class StoredImage:
    file_id: str
    content_type: str
    size: int
    width: int
    height: int

    @classmethod
    def from_doc(cls, doc: dict) -> StoredImage:
        return cls(str(doc["file_id"]), doc["content_type"], doc["size"], doc["width"],
                   doc["height"])


@dataclass(frozen=True)
class Record:
    id: str
    user_id: str
    image_name: str
    created_on: str
    engine: str
    original: StoredImage
    processed: StoredImage
    options: dict

    @classmethod
    def from_doc(cls, doc: dict) -> Record:
        return cls(str(doc["_id"]), doc["user_id"], doc["image_name"], doc["created_on"],
                   doc.get("engine", ""), StoredImage.from_doc(doc["original"]),
                   StoredImage.from_doc(doc["processed"]), doc.get("options", {}))

    def image(self, kind: str) -> StoredImage:
        if kind not in KINDS:
            raise RecordNotFound(kind)
        return getattr(self, kind)


class RecordRepository:
    def __init__(self, database, collection: str = COLLECTION, bucket: str = BUCKET):
        self.records = database[collection]
        self.files = gridfs.GridFS(database, collection=bucket)

    def ping(self) -> None:
        """Raise if the database cannot be reached (used by the readiness check)."""
        self.records.database.command("ping")

    def ensure_indexes(self) -> None:
        # The limit is enforced by this unique index: a record takes one of the visitor's
        # numbered slots, and two parallel uploads cannot take the same one. Its user_id
        # prefix also serves every per-visitor query, so no separate user_id index is needed.
        self.records.create_index([("user_id", ASCENDING), ("slot", ASCENDING)],
                                  unique=True, name="user_id_slot")

    def count(self, user_id: str) -> int:
        return self.records.count_documents({"user_id": user_id})

    def list(self, user_id: str) -> list[Record]:
        docs = self.records.find({"user_id": user_id}).sort("_id", DESCENDING)
        return [Record.from_doc(doc) for doc in docs]

    def get(self, user_id: str, record_id: str) -> Record:
        doc = self.records.find_one(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        return Record.from_doc(doc)

    def add(self, user_id: str, image_name: str, original: NewImage, processed: NewImage,
            engine: str, limit: int, options: dict | None = None) -> Record:
        """Store both images and their record, or raise `LimitReached` and store nothing."""
        file_ids = []
        try:
            images = {}
            for kind, image in (("original", original), ("processed", processed)):
                file_id = self.files.put(image.data, metadata={"user_id": user_id, "kind": kind})
                file_ids.append(file_id)
                images[kind] = {"file_id": file_id, "content_type": image.content_type,
                                "size": len(image.data), "width": image.width,
                                "height": image.height}
            doc = {
                "user_id": user_id,
                "image_name": image_name,
                "created_on": datetime.now(timezone.utc).strftime(CREATED_ON_FORMAT),
                "engine": engine,
                "options": options or {},
                **images,
            }
            used = {doc.get("slot") for doc in
                    self.records.find({"user_id": user_id}, {"slot": 1, "_id": 0})}
            # Free slots first; a parallel upload may still take one first, hence the retry.
            for slot in (n for n in range(limit) if n not in used):
                try:
                    record = {**doc, "slot": slot}
                    self.records.insert_one(record)
                    return Record.from_doc(record)
                except DuplicateKeyError:
                    continue
            raise LimitReached()
        except BaseException:
            # Bytes without a record would be orphans no one can see or delete.
            for file_id in file_ids:
                self._delete_file(file_id)
            raise

    def rename(self, user_id: str, record_id: str, image_name: str) -> None:
        result = self.records.update_one(self._owned(user_id, record_id),
                                         {"$set": {"image_name": image_name}})
        if result.matched_count == 0:
            raise RecordNotFound(record_id)

    def delete(self, user_id: str, record_id: str) -> None:
        doc = self.records.find_one_and_delete(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        for kind in KINDS:
            self._delete_file(doc[kind]["file_id"])

    def read(self, image: StoredImage) -> bytes:
        return self.files.get(ObjectId(image.file_id)).read()

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
