"""Upload rate limits, per visitor and per client address, shared by every route that makes
a result (uploads, and edits that change how a result looks) and by both doors, so moving
from the page to the API does not start a fresh count.

The core asks for the allowance (`spend`) once it knows what the work will cost (the
photo's pixels, fetched or sent, and a background's: `Work.counts`) and before any of it
starts; what it refuses earlier (a bad field, too many pixels, a full gallery) spends
nothing. Counters live where RATELIMIT_STORAGE_URI says, over a moving minute.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, current_app, request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.errors import Rejected
from app.http.visitor import current_visitor

log = logging.getLogger(__name__)
RATE_LIMITED = "Too many uploads in a short time. Please wait a minute and try again."
# A dead shared store is looked for again after these many seconds, doubling each time.
_RECHECK_FIRST, _RECHECK_MOST = 1.0, 60.0


class Limits:
    """Both limits over one store. A shared store that is down must not stop uploads: each
    process then counts in its own memory (limits per process, not per cluster) and looks
    for the store again, at growing intervals, until it is back."""

    def __init__(self, uri: str, per_visitor: str, per_address: str):
        options = ({"socket_connect_timeout": 0.3, "socket_timeout": 0.3}
                   if uri.startswith(("redis://", "rediss://")) else {})
        self._shared = MovingWindowRateLimiter(storage_from_string(uri, **options))
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._dead_since: float | None = None
        self._recheck = _RECHECK_FIRST
        self._lock = threading.Lock()
        self.items: tuple[tuple[str, RateLimitItem], ...] = (
            ("uploads-per-visitor", parse(per_visitor)),
            ("uploads-per-address", parse(per_address)))

    def spend(self, keys: tuple[str, str], counts: int) -> None:
        """Take `counts` from both limits (never more than a whole allowance: a request
        that could never fit would be told to wait for nothing), or `Rejected` 429 with the
        wait until the limit that is full lets one through, and nothing taken."""
        for limiter in self._limiters():
            try:
                return self._spend(limiter, keys, counts)
            except Rejected:
                raise
            except Exception:  # the shared store broke off: count here from now on
                self._died()

    def _spend(self, limiter: MovingWindowRateLimiter, keys, counts: int) -> None:
        pairs = [(item, key, min(counts, item.amount))
                 for (scope, item), key in zip(self.items, keys, strict=True)]
        for item, key, cost in pairs:
            if not limiter.test(item, key, cost=cost):
                reset = limiter.get_window_stats(item, key).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise Rejected("rate_limited", RATE_LIMITED, "quota", retry_after=wait)
        for item, key, cost in pairs:
            limiter.hit(item, key, cost=cost)

    def left(self, keys: tuple[str, str]) -> tuple[int, ...]:
        """What each limit has left for these keys, where counting happens now."""
        limiter = self._limiters()[0]
        return tuple(limiter.get_window_stats(item, key).remaining
                     for (_, item), key in zip(self.items, keys, strict=True))

    def _limiters(self) -> list[MovingWindowRateLimiter]:
        with self._lock:
            if self._dead_since is None:
                return [self._shared, self._local]
            if time.monotonic() - self._dead_since < self._recheck:
                return [self._local]
            self._dead_since = time.monotonic()
            self._recheck = min(2 * self._recheck, _RECHECK_MOST)
        try:
            back = self._shared.storage.check()
        except Exception:
            back = False
        if not back:
            return [self._local]
        with self._lock:
            self._dead_since, self._recheck = None, _RECHECK_FIRST
        log.info("Rate limit storage recovered")
        return [self._shared, self._local]

    def _died(self) -> None:
        with self._lock:
            if self._dead_since is None:
                log.warning("Rate limit storage unreachable - falling back to in-memory "
                            "storage")
                self._dead_since = time.monotonic()


def spend(counts: int) -> None:
    """The core's allowance for this request: the visitor's and the client address's (a
    new cookie does not reset the second)."""
    current_app.extensions["limits"].spend(
        (f"visitor:{current_visitor()}", f"ip:{request.remote_addr}"), counts)


def init_app(app: Flask) -> None:
    settings = app.extensions["services"].settings
    app.extensions["limits"] = Limits(settings.ratelimit_storage_uri,
                                      settings.upload_rate_limit,
                                      settings.upload_rate_limit_ip)
