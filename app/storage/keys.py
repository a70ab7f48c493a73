"""API keys an operator issues to programs (`flask keys ...`), kept as hashes, and each key's
usage per day.

A key is 32 random bytes, so one SHA-256 of it is as good as a slow hash: nobody can guess
their way back from the digest. Only the digest and the key's first characters (to tell keys
apart in a list) are stored; the key itself is shown once, when made. Keys can also come
from the API_KEYS setting (where there is no MongoDB to keep them in); those are hashed the
same way when the app starts and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from pymongo.errors import DuplicateKeyError, PyMongoError

from app.storage.documents import new_id
from app.storage.outages import Outages, StorageUnavailable

PREFIX = "ibp_"
SHOWN = 12  # characters of a made key kept in the clear: the prefix and 8 of its random part
SHOWN_GIVEN = 4  # of an operator's key (API_KEYS), which may be as short as SHORTEST_SECRET
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or a digit"
DEFAULT_PER_MINUTE = 60  # rate-limit counts (one per started 4 MP) a key may take a minute


@dataclass(frozen=True)
class ApiKey:
    name: str
    shown: str  # its first characters, never the whole key
    visitor: str  # the id its records are kept under (as a cookie's visitor)
    per_minute: int = DEFAULT_PER_MINUTE
    megapixels_per_day: int | None = None  # None: no daily cap
    created: datetime | None = None
    last_used: datetime | None = None
    from_setting: bool = False


@dataclass(frozen=True)
class Usage:
    calls: int = 0
    megapixels: float = 0.0


class KeyExists(Exception):
    pass


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _visitor_of(name: str) -> str:
    """A setting's key keeps its records under the same id on every pod and restart."""
    return hashlib.sha256(f"api-key:{name}".encode()).hexdigest()[:24]


def _key(doc: dict) -> ApiKey:
    return ApiKey(doc["name"], doc["shown"], doc["visitor"], doc.get("per_minute",
                  DEFAULT_PER_MINUTE), doc.get("megapixels_per_day"), doc.get("created"),
                  doc.get("last_used"))


class KeyBook:
    """The keys of the API_KEYS setting and of the database, and their usage."""

    def __init__(self, database, configured: dict[str, str], outages: Outages | None = None):
        """`outages`: the store's, shared with its records (one outage refuses both)."""
        self._keys, self._usage = database["api_keys"], database["api_key_usage"]
        self.outages = outages or Outages()
        self._configured = {digest(key): ApiKey(name, key[:SHOWN_GIVEN], _visitor_of(name),
                                                from_setting=True)
                            for name, key in configured.items()}

    def ensure_indexes(self) -> None:
        self._keys.create_index("digest", unique=True)
        self._keys.create_index("name", unique=True)
        self._usage.create_index([("name", 1), ("day", 1)], unique=True)

    def find(self, key: str) -> ApiKey | None:
        """The key `key` is, or None. Digests are compared, in constant time, so neither an
        unknown key nor a near miss answers faster than a known one."""
        wanted, found = digest(key), None
        for known, given in self._configured.items():  # all of them: no early way out
            if hmac.compare_digest(known, wanted):
                found = given
        if found is not None:
            return found
        doc = self._call(self._keys.find_one, {"digest": wanted, "revoked": None})
        if doc is None or not hmac.compare_digest(doc["digest"], wanted):
            return None
        return _key(doc)

    def create(self, name: str, per_minute: int = DEFAULT_PER_MINUTE,
               megapixels_per_day: int | None = None) -> tuple[ApiKey, str]:
        """A new key and its one showing; `KeyExists` if `name` is taken."""
        if any(k.name == name for k in self._configured.values()):
            raise KeyExists(name)
        key = PREFIX + secrets.token_urlsafe(32)
        doc = {"name": name, "digest": digest(key), "shown": key[:SHOWN],
               "visitor": new_id(), "per_minute": per_minute,
               "megapixels_per_day": megapixels_per_day, "revoked": None,
               "created": datetime.now(timezone.utc), "last_used": None}
        try:
            self._call(self._keys.insert_one, doc)
        except DuplicateKeyError:
            raise KeyExists(name) from None
        return _key(doc), key

    def revoke(self, name: str) -> bool:
        """Whether a key of that name was live; it is refused from now on. Its name stays
        taken, so its usage is never mistaken for a new key's."""
        done = self._call(self._keys.update_one, {"name": name, "revoked": None},
                          {"$set": {"revoked": datetime.now(timezone.utc)}})
        return done.modified_count == 1

    def list(self) -> list[tuple[ApiKey, Usage]]:
        """Every live key, with today's usage."""
        keys = [*self._configured.values(),
                *(_key(doc) for doc in self._call(
                    lambda: list(self._keys.find({"revoked": None}).sort("name"))))]
        return [(key, self.usage(key)) for key in keys]

    def usage(self, key: ApiKey, day: str | None = None) -> Usage:
        doc = self._call(self._usage.find_one, {"name": key.name, "day": day or today()})
        return Usage(doc["calls"], round(doc["megapixels"], 3)) if doc else Usage()

    def used(self, key: ApiKey, megapixels: float) -> None:
        """One call and its megapixels counted, atomically (the store adds, so pods that
        count at once lose nothing)."""
        now, where = datetime.now(timezone.utc), {"name": key.name, "day": today()}
        count = {"$inc": {"calls": 1, "megapixels": megapixels}}
        try:
            self._call(self._usage.update_one, where, count, upsert=True)
        except DuplicateKeyError:  # another pod made the day's document first: add to it
            self._call(self._usage.update_one, where, count)
        if not key.from_setting:
            self._call(self._keys.update_one, {"name": key.name}, {"$set": {"last_used": now}})

    def _call(self, method, *args, **kwargs):
        try:
            return self.outages.call(method, *args, **kwargs)
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise StorageUnavailable(str(exc)) from exc
