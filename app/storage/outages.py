"""A database that does not answer, as the one error callers handle, and not asked again at
once: each call would hold a request thread for the whole server-selection timeout, and a
hung MongoDB (accepting connections, answering nothing) took every thread, /health's too,
so the kubelet restarted a live app over a database outage (helper 96)."""

from __future__ import annotations

import functools
import threading
import time

from pymongo.errors import ConnectionFailure

# After an outage is met, how long every call is refused at once; then one call asks again
# while the others are still refused, until it has its answer.
COOL_OFF = 5.0


class StorageUnavailable(Exception):
    """The database cannot be reached; nothing was read or changed."""


class Outages:
    """One store's outages: `call` runs a database call, or refuses it at once while the
    last outage is fresh or another call is finding out whether it is over."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._quiet_until = 0.0
        self._down = False
        self._within = threading.local()  # a call made inside a call is part of it

    def call(self, method, *args, **kwargs):
        if getattr(self._within, "call", False):
            return method(*args, **kwargs)
        self._within.call = True
        try:
            return self._call(method, *args, **kwargs)
        finally:
            self._within.call = False

    def _call(self, method, *args, **kwargs):
        with self._lock:
            now = time.monotonic()
            if now < self._quiet_until:
                raise StorageUnavailable(
                    f"the database did not answer in the last {COOL_OFF:g} s")
            asking = self._down
            if asking:  # this call finds out; the others wait for its answer, refused
                self._quiet_until = now + COOL_OFF
        try:
            result = method(*args, **kwargs)
        except ConnectionFailure as exc:  # includes server selection and network timeouts
            with self._lock:
                self._down, self._quiet_until = True, time.monotonic() + COOL_OFF
            raise StorageUnavailable(str(exc)) from exc
        except Exception:
            if asking:  # it answered, if only to refuse: it is back
                self._back()
            raise
        if asking:
            self._back()
        return result

    def _back(self) -> None:
        with self._lock:
            self._down, self._quiet_until = False, 0.0


def outages_are_unavailable(method):
    """A repository's method through its `outages`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return self.outages.call(method, self, *args, **kwargs)

    return wrapper
