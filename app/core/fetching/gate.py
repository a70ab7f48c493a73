"""How many photos a process fetches by address at once, and how many of them one client
may hold. A fetch holds a request thread for as long as the other server takes (up to the
fetch's deadline) while costing no CPU, so slow or silent servers could otherwise hold
every thread and leave none for pages and health probes. Past the bound a fetch is refused
at once as `busy`, with the time until the oldest fetch in flight must have ended. Each
fetch also takes a place in the admission's line (`place`), so fetches and uploads waiting
for a turn together hold no more request threads than the line allows.

A refused or broken-off fetch costs its client one count of the rate limits however long
it held its slot (core/results.Paying), so one client sending photo addresses of a server
that never answers could hold every slot for as long as it liked, and every other
client's photos by address would be busy. Each client (its `holder`: an API key, or a
visitor's network, never a cookie that costs nothing to renew) has one fetch at a time;
past that its own fetches are refused (429, with the time until its fetch must have
ended), and the other slots stay for others: holding them all takes as many networks as
there are slots."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from app.core.errors import Rejected, busy, in_seconds
from app.engines import Busy

# One is enough for a program too: a photo's fetch is shorter than its cutout, which waits
# for the CPU anyway (half the slots per client let two networks hold them all).
PER_CLIENT = 1
HELD = ("Photos by address are fetched one at a time for each network or API key, and one "
        "from yours is being fetched now. Please try again in {wait}.")


def held(retry_after: int) -> Rejected:
    return Rejected("rate_limited", HELD.format(wait=in_seconds(retry_after)), "quota",
                    retry_after=retry_after)


class FetchGate:
    def __init__(self, fetch: Callable[[str], bytes], slots: int, deadline: float,
                 place: Callable[[], AbstractContextManager] = nullcontext):
        self._fetch, self.slots, self.deadline, self._place = fetch, slots, deadline, place
        self._lock = threading.Lock()
        # When each fetch in flight began (monotonic), by holder.
        self._held: dict[str | None, list[float]] = {}

    def __call__(self, url: str, holder: str | None = None) -> bytes:
        """The photo at `url`, fetched for `holder` (None: the operator's own work, which
        only the process's bound applies to)."""
        began = time.monotonic()
        with self._lock:
            started = [when for times in self._held.values() for when in times]
            if len(started) >= self.slots:
                raise busy(self._wait(started, began))
            mine = self._held.setdefault(holder, [])
            if holder is not None and len(mine) >= PER_CLIENT:
                raise held(self._wait(mine, began))
            mine.append(began)
        try:
            with self._place():
                return self._fetch(url)
        except Busy as exc:
            raise busy(exc.retry_after) from exc
        finally:
            with self._lock:
                self._held[holder].remove(began)
                if not self._held[holder]:  # nothing is kept of a client with none in flight
                    del self._held[holder]

    def _wait(self, started: list[float], now: float) -> int:
        """Whole seconds until the oldest of `started` must have ended."""
        return max(1, math.ceil(min(started) + self.deadline - now))
