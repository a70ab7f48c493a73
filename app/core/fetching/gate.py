"""How many photos a process fetches by address at once, and how many of them one client
may hold. A fetch holds a request thread for as long as the other server takes (up to the
fetch's deadline) while costing no CPU, so slow or silent servers could otherwise hold
every thread and leave none for pages and health probes. Past the bound a fetch is refused
at once as `busy`, with the time until the oldest fetch in flight must have ended. Each
fetch also takes a place in the admission's line (`place`), so fetches and uploads waiting
for a turn together hold no more request threads than the line allows.

A refused or broken-off fetch costs its client nothing from the rate limits (no work was
done), so one client sending photo addresses of a server that never answers could hold
every slot for as long as it liked, and every other client's photos by address would be
busy. Each client (its `holder`: an API key, or a visitor's network, never a cookie that
costs nothing to renew) holds at most half the slots; past that its own fetches are
refused (429), and the rest stay for others."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from app.core.errors import Rejected, busy
from app.engines import Busy

HELD = ("A client may have {most} photo{s} fetched by address at once, and this one already "
        "has. Please try again when {that} has arrived.")


def held(most: int) -> Rejected:
    return Rejected("rate_limited", HELD.format(most=most, s="s" if most > 1 else "",
                                                that="one" if most > 1 else "it"),
                    "quota", retry_after=1)  # its own fetch is what it waits for


class FetchGate:
    def __init__(self, fetch: Callable[[str], bytes], slots: int, deadline: float,
                 place: Callable[[], AbstractContextManager] = nullcontext):
        self._fetch, self.slots, self.deadline, self._place = fetch, slots, deadline, place
        self.per_holder = max(1, slots // 2)
        self._lock = threading.Lock()
        self._started: list[float] = []  # when each fetch in flight began (monotonic)
        self._held: Counter[str] = Counter()  # fetches in flight by holder

    def __call__(self, url: str, holder: str | None = None) -> bytes:
        """The photo at `url`, fetched for `holder` (None: the operator's own work, which
        only the process's bound applies to)."""
        began = time.monotonic()
        with self._lock:
            if len(self._started) >= self.slots:
                ends = min(self._started) + self.deadline
                raise busy(max(1, math.ceil(ends - began)))
            if holder is not None and self._held[holder] >= self.per_holder:
                raise held(self.per_holder)
            self._started.append(began)
            self._held[holder] += 1
        try:
            with self._place():
                return self._fetch(url)
        except Busy as exc:
            raise busy(exc.retry_after) from exc
        finally:
            with self._lock:
                self._started.remove(began)
                self._held[holder] -= 1
                if not self._held[holder]:
                    del self._held[holder]
