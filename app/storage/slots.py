"""A visitor's numbered slots ("<user_id>/<n>"): the unique index on them is what keeps
`USER_LIMIT` when uploads arrive in parallel, on every database the app runs on.

An upload holds its slot while its result is made, with a placeholder document (it has
RESERVED, the time it lets go, HOLDER, its process, and nothing else a record has), so
uploads past the limit are refused before their work, not after it. Lists and lookups never
see placeholders. A placeholder's process renews it while its upload works (`Leases`), so
an upload of any length keeps its slot and a process that died lets it go within
LEASE_SECONDS; at once, for the visitor's next upload on the same host.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

RESERVED = "reserved_until"
HOLDER = "held_by"  # "<host>:<pid namespace>:<pid>": a gunicorn worker, in a pod its name


def _here() -> str:
    """Which processes a pid names here: the host's, and its pid namespace's where Linux
    says it (containers sharing a host name, with hostNetwork say, each have their own:
    helper 101)."""
    try:
        space = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        space = ""
    return f"{socket.gethostname()}:{space}:"


HERE = _here()
# A fixed 600 s kept the visitor of a killed worker told "Max limit reached" for ten
# minutes with room in the gallery (helper 99): now a held slot is renewed every
# RENEW_SECONDS while its upload works, and lapses this long after its process stops.
LEASE_SECONDS = 30
RENEW_SECONDS = 10
# Renewed no longer than the old fixed hold: an upload's own bounds (the line's wait, a
# fetch's and the engines' timeouts) end it well before; a thread hung past them does not
# keep its slot for ever.
HELD_MOST_SECONDS = 600
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
    clear(records, user_id)
    until = now() + timedelta(seconds=LEASE_SECONDS)
    return insert(records, {"user_id": user_id, RESERVED: until,
                            HOLDER: f"{HERE}{os.getpid()}"}, limit)


def clear(records, user_id: str) -> None:
    """The visitor's placeholders that lapsed, or whose process on this host is gone: a
    worker killed mid-upload, whose visitor's page sends the photo again 10 s later
    (helper 99), need not wait out its lease."""
    records.delete_many({"user_id": user_id, RESERVED: {"$lte": now()}})
    for doc in records.find({"user_id": user_id, RESERVED: {"$exists": True}}, {HOLDER: 1}):
        holder = doc.get(HOLDER, "")
        pid = holder[len(HERE):]
        if holder.startswith(HERE) and pid.isdigit() and not _alive(int(pid)):
            records.delete_one({"_id": doc["_id"], RESERVED: {"$exists": True}})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal: only whether the process is there
    except ProcessLookupError:
        return False
    except PermissionError:  # there, another user's
        pass
    return True


class Leases:
    """The placeholders this process holds, renewed by one thread while it holds any (it
    ends when none is left, and the next hold starts another)."""

    def __init__(self, records):
        self.records = records
        self._held: dict = {}  # placeholder id -> when it was first held (monotonic)
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @contextmanager
    def kept(self, placeholder: dict) -> Iterator[None]:
        with self._lock:
            self._held[placeholder["_id"]] = time.monotonic()
            if not self.renewing:  # started in the process that holds: after a fork
                self._renewer = threading.Thread(target=self._renew, daemon=True,
                                                 name="slot-leases")
                self._renewer.start()
        try:
            yield
        finally:
            self.drop(placeholder)

    def drop(self, placeholder: dict) -> None:
        """No longer renewed: before its record is written in its place, since a renewal
        racing that write could undo it on a server that does not isolate updates
        (FerretDB's SQLite backend; helper 101)."""
        with self._lock:
            self._held.pop(placeholder["_id"], None)

    @property
    def renewing(self) -> bool:
        return self._renewer is not None

    @property
    def held(self) -> tuple:
        with self._lock:
            return tuple(self._held)

    def renew(self) -> None:
        with self._lock:
            held = [placeholder for placeholder, since in self._held.items()
                    if time.monotonic() - since < HELD_MOST_SECONDS]
        if held:
            self.records.update_many(
                {"_id": {"$in": held}, RESERVED: {"$exists": True}},
                {"$set": {RESERVED: now() + timedelta(seconds=LEASE_SECONDS)}})

    def _renew(self) -> None:
        while True:
            time.sleep(RENEW_SECONDS)
            with self._lock:
                if not self._held:
                    self._renewer = None
                    return
            try:
                self.renew()
            except Exception:  # the database's outage: the next turn tries again
                log.warning("Could not renew the held upload slots", exc_info=True)


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
