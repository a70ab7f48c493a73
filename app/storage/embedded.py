"""The in-memory store used when no MONGO_URI is set: mongomock, made safe for threads.

MongoDB applies each single-document write atomically; mongomock only guards its dicts. Its
insert stores the document first, then checks unique indexes and rolls back on a clash, so
two threads inserting at once can see each other's half-done insert. The per-visitor limit
relies on that index, so writes to the embedded store are serialised, as on a server.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import mongomock
import mongomock.gridfs

_WRITES = ("insert_one", "insert_many", "update_one", "update_many", "replace_one",
           "delete_one", "delete_many", "find_one_and_update", "find_one_and_replace",
           "find_one_and_delete", "bulk_write", "create_index", "create_indexes", "drop")
# GridFS chunk size for the embedded store: every file in one chunk (the largest result
# allowed is well below it), since mongomock finds a file's chunks by scanning them all.
WHOLE_FILE = 1 << 30
_write_lock = threading.RLock()
_setup_lock = threading.Lock()
_ready = False


def _serialised(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _write_lock:
            return method(*args, **kwargs)

    return wrapper


def _any_id_without_copying_all(find_one):
    """GridFS asks `find_one({}, projection={"_id": 1})` before each file it writes (is the
    bucket empty?), and mongomock answers any query by copying every document first: each
    upload to the demo store got slower as it filled (12 ms of a 1 MP upload's after 30).
    That one question is answered from the first document; every other goes through."""

    @functools.wraps(find_one)
    def wrapper(self, filter=None, *args, **kwargs):
        options = {"session": None, **kwargs}
        if filter not in (None, {}) or args or options != {"session": None,
                                                          "projection": {"_id": 1}}:
            return find_one(self, filter, *args, **kwargs)
        with contextlib.closing(self._store.documents) as documents:  # holds the store's read lock
            first = next(documents, None)
        return None if first is None else {"_id": first["_id"]}

    return wrapper


def _prepare_mongomock() -> None:
    global _ready
    with _setup_lock:
        if _ready:
            return
        mongomock.gridfs.enable_gridfs_integration()
        for name in _WRITES:
            setattr(mongomock.Collection, name, _serialised(getattr(mongomock.Collection, name)))
        mongomock.Collection.find_one = _any_id_without_copying_all(mongomock.Collection.find_one)
        _ready = True


def embedded_database(name: str):
    """A fresh, empty in-memory database (its data lives as long as the process)."""
    _prepare_mongomock()
    return mongomock.MongoClient()[name]


def prepare_bucket(database, bucket: str) -> None:
    """GridFS's index on a bucket's chunks, made before GridFS makes it unique: mongomock
    checks a unique index by scanning every document at each insert, so each file cost
    more as the store filled (a 1 MP upload's main thread 11-12 ms more per 100 records
    stored). GridFS keeps an index it finds on the same keys. No two chunks can clash: a
    file's are numbered under an ObjectId made for it."""
    database[f"{bucket}.chunks"].create_index([("files_id", 1), ("n", 1)])
