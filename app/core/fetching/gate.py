"""How many photos a process fetches by address at once. A fetch holds a request thread
for as long as the other server takes (up to the fetch's deadline) while costing no CPU,
so slow or silent servers could otherwise hold every thread and leave none for pages and
health probes. Past the bound a fetch is refused at once as `busy`, with the time until
the oldest fetch in flight must have ended. Each fetch also takes a place in the
admission's line (`place`), so fetches and uploads waiting for a turn together hold no more
request threads than the line allows."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from app.core.errors import busy
from app.engines import Busy


class FetchGate:
    def __init__(self, fetch: Callable[[str], bytes], slots: int, deadline: float,
                 place: Callable[[], AbstractContextManager] = nullcontext):
        self._fetch, self.slots, self.deadline, self._place = fetch, slots, deadline, place
        self._lock = threading.Lock()
        self._started: list[float] = []  # when each fetch in flight began (monotonic)

    def __call__(self, url: str) -> bytes:
        began = time.monotonic()
        with self._lock:
            if len(self._started) >= self.slots:
                ends = min(self._started) + self.deadline
                raise busy(max(1, math.ceil(ends - began)))
            self._started.append(began)
        try:
            with self._place():
                return self._fetch(url)
        except Busy as exc:
            raise busy(exc.retry_after) from exc
        finally:
            with self._lock:
                self._started.remove(began)
