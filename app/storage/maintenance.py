"""Work on the whole store, for operators' commands (app/cli.py): what no request does."""

from __future__ import annotations

import itertools
from datetime import timedelta

from bson import ObjectId

from app.storage.documents import EXTRAS, KINDS, StoredRecord, file_ids
from app.storage.records import BUCKET, RecordRepository, outages_are_unavailable, record_of
from app.storage.slots import NOT_HELD, RESERVED, now


@outages_are_unavailable
def sweep_orphans(repository: RecordRepository, older_than: timedelta) -> int:
    """Delete image files no record refers to, stored more than `older_than` ago (an
    upload in progress has stored its files but not yet its record). Orphans come from
    a process that died mid-upload or an outage during the clean-up; so do lapsed slot
    placeholders, which go too. Returns the count of files."""
    repository.records.delete_many({RESERVED: {"$lte": now()}})
    referenced = set()
    fields = {f"{kind}.file_id": 1 for kind in KINDS + EXTRAS}
    for doc in repository.records.find({}, {**fields, "thumbnails": 1}):
        referenced.update(file_ids(doc))
        referenced.add(doc["_id"])  # files an interrupted migration stored for it
    swept = 0
    for stored in repository.files.find({"uploadDate": {"$lte": now() - older_than}}):
        owner = (stored.metadata or {}).get("legacy_id")
        if stored._id in referenced or (owner is not None and owner in referenced):
            continue
        repository.delete_file(stored._id)
        swept += 1
    return swept + _sweep_lost_chunks(repository, older_than)


def _sweep_lost_chunks(repository: RecordRepository, older_than: timedelta) -> int:
    """Delete the bytes of files without their files document: GridFS writes it last, so a
    writer killed part-way leaves its chunks alone (helper 99: 48 MB left by a killed
    upload), and deletes it first, so does a delete cut short, maybe after its first chunk
    (helper 101). A file's age is its id's, made when it was started. Returns the count."""
    database = repository.records.database
    chunks, files = database[f"{BUCKET}.chunks"], database[f"{BUCKET}.files"]
    started_before = ObjectId.from_datetime(now() - older_than)
    started = (group["_id"] for group in chunks.aggregate([
        {"$match": {"files_id": {"$lt": started_before}}},
        {"$group": {"_id": "$files_id"}}]))  # only files_id is read: its index has it
    lost = 0
    while batch := list(itertools.islice(started, 1000)):
        known = {doc["_id"] for doc in files.find({"_id": {"$in": batch}}, {"_id": 1})}
        gone = [file_id for file_id in batch if file_id not in known]
        if gone:
            chunks.delete_many({"files_id": {"$in": gone}})
            lost += len(gone)
    return lost


@outages_are_unavailable
def lacking_thumbnails(repository: RecordRepository) -> list[StoredRecord]:
    """Every record (of any visitor) made before renditions existed."""
    query = {"$or": [{f"thumbnails.{kind}": {"$exists": False}} for kind in KINDS],
             **NOT_HELD}
    return [record_of(doc) for doc in repository.records.find(query)]
