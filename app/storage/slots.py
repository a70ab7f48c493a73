"""A visitor's numbered slots ("<user_id>/<n>"): the unique index on them is what keeps
`USER_LIMIT` when uploads arrive in parallel, on every database the app runs on.

An upload holds its slot while its result is made, with a placeholder document (it has
RESERVED, the time it lets go, and nothing else a record has), so uploads past the limit
are refused before their work, not after it. Lists and lookups never see placeholders; a
holder that died lets go after RESERVATION_SECONDS.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from pymongo.errors import DuplicateKeyError

RESERVED = "reserved_until"
RESERVATION_SECONDS = 600  # longer than any upload can take (gunicorn's timeout is 120 s)
NOT_HELD = {RESERVED: {"$exists": False}}  # records, not placeholders


class LimitReached(Exception):
    """The visitor already has as many records as the limit allows."""


def now() -> datetime:
    return datetime.now(timezone.utc)


def counted() -> dict:
    """Records, and the placeholders of uploads still being made."""
    return {"$or": [NOT_HELD, {RESERVED: {"$gt": now()}}]}


def free(records, user_id: str, limit: int | None = None):
    """The visitor's slot keys not taken yet, lowest first (all numbers when `limit` is
    None). A parallel writer may still take one first: callers retry on
    DuplicateKeyError, which the unique index raises."""
    found = list(records.find({"user_id": user_id}, {"slot": 1, "_id": 0}))
    taken = {doc.get("slot") for doc in found}
    # Records without a slot (the original app's) count towards the limit too: only as
    # many numbers as they leave are offered, or parallel uploads could fill every number.
    unslotted = sum(1 for doc in found if doc.get("slot") is None)
    numbers = range(limit - unslotted) if limit is not None else itertools.count()
    return (slot for n in numbers if (slot := f"{user_id}/{n}") not in taken)


def insert(records, doc: dict, limit: int) -> dict:
    """`doc` stored in the visitor's lowest free slot, or `LimitReached`."""
    for slot in free(records, doc["user_id"], limit):
        try:
            record = {**doc, "slot": slot}
            records.insert_one(record)
            return record
        except DuplicateKeyError:
            continue
    raise LimitReached()


def hold(records, user_id: str, limit: int) -> dict:
    """A placeholder in a free slot (the visitor's lapsed ones cleared first)."""
    records.delete_many({"user_id": user_id, RESERVED: {"$lte": now()}})
    until = now() + timedelta(seconds=RESERVATION_SECONDS)
    return insert(records, {"user_id": user_id, RESERVED: until}, limit)


def fill(records, placeholder: dict, doc: dict) -> dict:
    """`doc` stored in place of `placeholder`, same id and slot; `LimitReached` if the
    placeholder lapsed meanwhile and its slot went to another upload."""
    record = {**doc, "_id": placeholder["_id"], "slot": placeholder["slot"]}
    if records.replace_one({"_id": placeholder["_id"], RESERVED: {"$exists": True}},
                           record).matched_count != 1:
        raise LimitReached()
    return record


def release(records, placeholder: dict) -> None:
    records.delete_one({"_id": placeholder["_id"], RESERVED: {"$exists": True}})
