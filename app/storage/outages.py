"""A database that does not answer, as the one error callers handle, and not asked again at
once: each call would hold a request thread for the whole server-selection timeout, and a
hung MongoDB (accepting connections, answering nothing) took every thread, /health's too,
so the kubelet restarted a live app over a database outage (helper 96)."""

from __future__ import annotations

import functools
import time

from pymongo.errors import ConnectionFailure

# After an outage is met, how long every call is refused at once before one asks again.
COOL_OFF = 5.0


class StorageUnavailable(Exception):
    """The database cannot be reached; nothing was read or changed."""


class Outages:
    """One store's outages: `call` runs a database call, or refuses it at once while the
    last outage is fresh."""

    def __init__(self) -> None:
        self._quiet_until = 0.0

    def call(self, method, *args, **kwargs):
        if time.monotonic() < self._quiet_until:
            raise StorageUnavailable(f"the database did not answer in the last {COOL_OFF:g} s")
        try:
            return method(*args, **kwargs)
        except ConnectionFailure as exc:  # includes server selection and network timeouts
            self._quiet_until = time.monotonic() + COOL_OFF
            raise StorageUnavailable(str(exc)) from exc


def outages_are_unavailable(method):
    """A repository's method through its `outages`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.outages.call(method, self, *args, **kwargs)

    return wrapper
