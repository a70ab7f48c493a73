"""RecordRepository: a visitor's processed images, over any pymongo-compatible database.

A record document keeps names, dates and image metadata; the image bytes live in GridFS,
so a large photo never comes near MongoDB's 16 MB document limit. Every read and write is
scoped by `user_id`: a record that is not the visitor's is, to them, a record that does
not exist. Documents in the original app's layout are still listed, served, renamed and
deleted (legacy.py says what they are, and how `flask migrate-images` moves them).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import gridfs
from bson import ObjectId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import ConnectionFailure, WTimeoutError

from app.images.outputs import EncodedImage
from app.storage import embedded as embedded_store
from app.storage import legacy, slots
from app.storage.documents import RecordNotFound, StoredRecord, file_ids, is_id
from app.storage.outages import Outages, outages_are_unavailable

log = logging.getLogger(__name__)

COLLECTION = "img_converter"  # the original app's collection name
BUCKET = "images"
CREATED_ON_FORMAT = "%Y-%m-%d %H:%M:%S"


class StaleRecord(Exception):
    """The record changed while a change to it was being made (one deleted meanwhile is
    `RecordNotFound`)."""


class RecordRepository:
    def __init__(self, database, embedded: bool = False):
        """`embedded`: `database` is the in-memory store (embedded.py), which wants its
        files whole and its chunks' index not unique; a server keeps GridFS's defaults."""
        self.records = database[COLLECTION]
        self.files = gridfs.GridFS(database, collection=BUCKET)
        self._chunk = {}
        if embedded:
            self._chunk = {"chunk_size": embedded_store.WHOLE_FILE}
            embedded_store.prepare_bucket(database, BUCKET)
        self._indexed = False
        self.outages = Outages()
        self.leases = slots.Leases(self.records)

    @outages_are_unavailable
    def ping(self) -> None:
        """Raise `StorageUnavailable` if the database cannot be reached."""
        self.records.database.command("ping")
        self.ensure_indexes()

    @outages_are_unavailable
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

    @outages_are_unavailable
    def count(self, user_id: str) -> int:
        """The visitor's records, and the uploads being made for them (their slots held)."""
        slots.clear(self.records, user_id)
        return self.records.count_documents({"user_id": user_id, **slots.counted()})

    @outages_are_unavailable
    def list(self, user_id: str) -> list[StoredRecord]:
        docs = self.records.find({"user_id": user_id, **slots.NOT_HELD}).sort("_id", DESCENDING)
        return [record_of(doc) for doc in docs]

    @contextmanager
    def reserved(self, user_id: str, limit: int) -> Iterator[dict]:
        """One of the visitor's free slots held while an upload is made (slots.py), or
        `LimitReached` at once; given to `add`, let go if the block fails."""
        placeholder = self._hold(user_id, limit)
        try:
            with self.leases.kept(placeholder):
                yield placeholder
        except BaseException:
            with contextlib.suppress(ConnectionFailure):
                slots.release(self.records, placeholder)
            raise

    @outages_are_unavailable
    def _hold(self, user_id: str, limit: int) -> dict:
        self.ensure_indexes()  # without the unique index the limit could not hold
        return slots.hold(self.records, user_id, limit)

    @outages_are_unavailable
    def get(self, user_id: str, record_id: str) -> StoredRecord:
        doc = self.records.find_one(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        return record_of(doc)

    @outages_are_unavailable
    def add(self, user_id: str, image_name: str, original: EncodedImage,
            processed: EncodedImage, engine: str, limit: int, options: dict | None = None,
            thumbnails: dict | None = None, extras: dict | None = None,
            model: str | None = None, slot: dict | None = None) -> StoredRecord:
        """Store both images, their `thumbnails` ({kind: {size: EncodedImage}}), the `extras`
        that make the result again ({"mask": EncodedImage, ...}) and their record (in the `slot`
        `reserved` held, or a free one), or raise and store nothing."""
        self.ensure_indexes()  # without the unique index the limit could not hold
        stored: list = []
        try:
            images = {kind: self._put(image, user_id, kind, stored) for kind, image in
                      (("original", original), ("processed", processed),
                       *(extras or {}).items())}
            small = {kind: self._put_sizes(sizes, user_id, stored)
                     for kind, sizes in (thumbnails or {}).items()}
            doc = {
                "user_id": user_id,
                "image_name": image_name,
                "created_on": datetime.now(timezone.utc).strftime(CREATED_ON_FORMAT),
                "engine": engine,
                "model": model,
                "options": options or {},
                **images,
                "thumbnails": small,
            }
            if slot:
                self.leases.drop(slot)
            record = (slots.fill(self.records, slot, doc) if slot
                      else slots.insert(self.records, doc, limit))
            return StoredRecord.from_doc(record)
        except (ConnectionFailure, WTimeoutError):
            # The insert may have been applied before the connection broke: deleting the
            # bytes could leave a record without them. Keep them; if no record refers to
            # them, `flask sweep-orphans` removes them later.
            log.warning("Upload interrupted by the database; kept files %s", stored)
            raise
        except BaseException:
            # Bytes without a record would be orphans no one can see or delete.
            for file_id in stored:
                self.delete_file(file_id)
            raise

    @outages_are_unavailable
    def replace_result(self, record: StoredRecord, processed: EncodedImage, thumbnails: dict,
                       changes: dict, extras: dict) -> StoredRecord:
        """A new result for `record` (and its renditions, `extras`, other fields such as
        options or name), put in place in one update once all its bytes are stored; then
        the old result's files go. `StaleRecord` if the record changed meanwhile,
        `RecordNotFound` if it went."""
        stored: list = []
        try:
            new = {"processed": self._put(processed, record.user_id, "processed", stored),
                   "thumbnails.processed": self._put_sizes(thumbnails, record.user_id, stored),
                   **{kind: self._put(image, record.user_id, kind, stored)
                      for kind, image in extras.items()}, **changes}
            query = {**self._owned(record.user_id, record.id),
                     "processed.file_id": ObjectId(record.processed.file_id)}
            # The document as the update found it (whole: FerretDB has no projection here).
            before = self.records.find_one_and_update(query, {"$set": new})
            if before is None:
                # A deleted record is not worth trying again for, as a changed one is.
                if self.records.find_one(self._owned(record.user_id, record.id),
                                         {"_id": 1}) is None:
                    raise RecordNotFound(record.id)
                raise StaleRecord(record.id)
        except BaseException:  # a stale record's new files go too
            for file_id in stored:
                self.delete_file(file_id)
            raise
        # What the update replaced, as the database held it: renditions a gallery view
        # stored after `record` was read (add_thumbnails) go too.
        replaced = {kind: before.get(kind) for kind in ("processed", *extras)}
        renditions = (before.get("thumbnails") or {}).get("processed", {})
        replaced["thumbnails"] = {"processed": renditions}
        for file_id in file_ids(replaced):
            self.delete_file(file_id)
        return self.get(record.user_id, record.id)

    @outages_are_unavailable
    def add_thumbnails(self, record: StoredRecord, kind: str,
                       sizes: dict[int, EncodedImage]) -> StoredRecord:
        """Store renditions a record made before they existed lacks; if another request
        stored them first, keep theirs."""
        stored: list = []
        small = self._put_sizes(sizes, record.user_id, stored)
        query = {**self._owned(record.user_id, record.id),
                 f"thumbnails.{kind}": {"$exists": False}}
        if self.records.update_one(query, {"$set": {f"thumbnails.{kind}": small}}
                                   ).modified_count == 0:
            for file_id in stored:
                self.delete_file(file_id)
        return self.get(record.user_id, record.id)

    def _put(self, image: EncodedImage, user_id: str, kind: str, stored: list) -> dict:
        """Store `image`'s bytes (noting the file in `stored`); its part of a document."""
        file_id = self.files.put(image.data, metadata={"user_id": user_id, "kind": kind},
                                 **self._chunk)
        stored.append(file_id)
        return {"file_id": file_id, "content_type": image.content_type,
                "size": len(image.data), "width": image.width, "height": image.height}

    def _put_sizes(self, sizes: dict, user_id: str, stored: list) -> dict:
        return {str(size): self._put(image, user_id, "thumbnail", stored)
                for size, image in sizes.items()}

    @contextmanager
    def in_use(self, record_id: str) -> Iterator[None]:
        """A record being worked on inside the block (an edit remaking it): a store that
        removes records to make room passes it over (demo.py); here, nothing to do."""
        yield

    @outages_are_unavailable
    def in_current_layout(self, record: StoredRecord) -> StoredRecord:
        """`record`, its document moved to GridFS first if it is one of the original app's."""
        if record.original.file_id:
            return record
        doc = self.records.find_one(self._owned(record.user_id, record.id))
        if doc is not None and legacy.is_legacy(doc):
            legacy.migrate_one(self, doc)
        return self.get(record.user_id, record.id)

    @outages_are_unavailable
    def rename(self, user_id: str, record_id: str, image_name: str) -> StoredRecord:
        """The record, renamed (one round trip: the update answers with the document)."""
        doc = self.records.find_one_and_update(self._owned(user_id, record_id),
                                               {"$set": {"image_name": image_name}},
                                               return_document=ReturnDocument.AFTER)
        if doc is None:
            raise RecordNotFound(record_id)
        return record_of(doc)

    @outages_are_unavailable
    def delete(self, user_id: str, record_id: str) -> None:
        doc = self.records.find_one_and_delete(self._owned(user_id, record_id))
        if doc is None:
            raise RecordNotFound(record_id)
        for file_id in file_ids(doc):
            self.delete_file(file_id)
        # Asked only once the record's own files are gone: if the database fails here, a
        # cut-short migration's leftovers wait for the sweep, not the files it knew.
        for leftover in legacy.leftover_files(self.files, doc["_id"]):
            self.delete_file(leftover)

    @outages_are_unavailable
    def read(self, record: StoredRecord, kind: str, thumbnail: int | None = None) -> bytes:
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

    def delete_file(self, file_id) -> None:
        try:
            self.files.delete(file_id)
        except Exception:
            log.exception("Could not delete image file %s", file_id)

    @staticmethod
    def _owned(user_id: str, record_id: str) -> dict:
        if not is_id(record_id):
            raise RecordNotFound(record_id)
        return {"_id": ObjectId(record_id), "user_id": user_id, **slots.NOT_HELD}


def record_of(doc: dict) -> StoredRecord:
    return legacy.record(doc) if legacy.is_legacy(doc) else StoredRecord.from_doc(doc)
