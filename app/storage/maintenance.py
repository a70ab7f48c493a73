"""Work on the whole store, for operators' commands (app/cli.py): what no request does."""

from __future__ import annotations

from datetime import timedelta

from app.storage.documents import EXTRAS, KINDS, StoredRecord, file_ids
from app.storage.records import RecordRepository, outages_are_unavailable, record_of
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
    return swept


@outages_are_unavailable
def lacking_thumbnails(repository: RecordRepository) -> list[StoredRecord]:
    """Every record (of any visitor) made before renditions existed."""
    query = {"$or": [{f"thumbnails.{kind}": {"$exists": False}} for kind in KINDS],
             **NOT_HELD}
    return [record_of(doc) for doc in repository.records.find(query)]
