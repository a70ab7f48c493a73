"""Documents in the original app's layout, and moving them to the current one.

The original kept both images base64-encoded inside the record:
`{user_id, image_name, original_image_base64, processed_image_base64, created_on}`.
Such documents keep working as they are; `flask migrate-images` moves their bytes to
GridFS. The migration can be stopped at any point and run again: a document is rewritten
in one update only after its files are safely stored, and files stored by a run that was
cut short are found again by their `legacy_id` instead of being stored twice.
"""

from __future__ import annotations

import base64
import binascii
import logging

from pymongo.errors import DuplicateKeyError

from app.images.decoding import sniff
from app.storage import slots
from app.storage.documents import StoredImage, StoredRecord, thumbnails_from_doc

log = logging.getLogger(__name__)

FIELDS = {"original": "original_image_base64", "processed": "processed_image_base64"}
LEGACY_QUERY = {"original": {"$exists": False},
                "$or": [{field: {"$exists": True}} for field in FIELDS.values()]}
ENGINE = "rapidapi"  # the only engine the original app had


def is_legacy(doc: dict) -> bool:
    return "original" not in doc and any(field in doc for field in FIELDS.values())


def image_bytes(doc: dict, kind: str) -> bytes:
    """The decoded image; empty when the stored text is missing or not base64."""
    text = doc.get(FIELDS[kind]) or ""
    if isinstance(text, bytes):
        return text
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]  # a data: URL, as some versions stored
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def record(doc: dict) -> StoredRecord:
    """A document of the original layout as a record (its images have no GridFS file)."""
    original, processed = (StoredImage(**_image(doc, kind)[1], etag=f"{doc['_id']}-{kind}")
                           for kind in FIELDS)
    # A name or date the original app left out or stored as null is shown as none, as
    # StoredRecord.from_doc does: a None reached the download's file name and failed.
    return StoredRecord(str(doc["_id"]), doc["user_id"], doc.get("image_name") or "",
                         doc.get("created_on") or "", ENGINE, original, processed, {},
                         thumbnails_from_doc(doc))


def read(records, query: dict, kind: str) -> bytes | None:
    """The image bytes of the document `query` finds; None if there is none."""
    doc = records.find_one(query, {FIELDS[kind]: 1})
    return None if doc is None else image_bytes(doc, kind)


def leftover_files(files, doc_id) -> list:
    """Files an interrupted migration stored for a document still in the old layout."""
    return [found._id for found in files.find({"metadata.legacy_id": doc_id})]


def _image(doc: dict, kind: str) -> tuple[bytes, dict]:
    """The image's bytes, and what a record says of them but their GridFS file."""
    data = image_bytes(doc, kind)
    content_type, width, height = sniff(data)
    return data, {"content_type": content_type, "size": len(data), "width": width,
                  "height": height}


def migrate(repository, limit: int | None = None) -> tuple[int, int]:
    """Move up to `limit` legacy documents (all by default) to GridFS: (moved, left)."""
    repository.ensure_indexes()
    migrated = 0
    for doc in repository.records.find(LEGACY_QUERY):
        if limit is not None and migrated >= limit:
            break
        if migrate_one(repository, doc):
            migrated += 1
    return migrated, repository.records.count_documents(LEGACY_QUERY)


def migrate_one(repository, doc: dict) -> bool:
    """Move one legacy document's images to GridFS; False if it was no longer legacy."""
    images = {}
    for kind in FIELDS:
        data, described = _image(doc, kind)
        images[kind] = {"file_id": _stored_file(repository, doc, kind, data), **described}
    # Past the visitor's limit if need be: the original app's limit was not enforced.
    for slot in slots.free(repository.records, doc["user_id"]):
        try:
            # One update: the document is either still legacy or fully migrated.
            updated = repository.records.update_one(
                {"_id": doc["_id"], **LEGACY_QUERY},
                {"$set": {**images, "slot": slot, "engine": ENGINE, "options": {}},
                 "$unset": dict.fromkeys(FIELDS.values(), "")})
        except DuplicateKeyError:
            continue  # a new upload took this slot meanwhile
        break
    if updated.modified_count:
        log.info("Migrated record %s", doc["_id"])
    return bool(updated.modified_count)


def _stored_file(repository, doc: dict, kind: str, data: bytes):
    """The GridFS file for this document's image, reusing one an earlier run stored."""
    found = repository.files.find_one({"metadata.legacy_id": doc["_id"], "metadata.kind": kind})
    if found is not None:
        return found._id
    return repository.files.put(data, metadata={"user_id": doc["user_id"], "kind": kind,
                                                "legacy_id": doc["_id"]})
