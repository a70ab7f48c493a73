"""How many photos a process fetches by address at once. A fetch holds a request thread
for as long as the other server takes (up to the fetch's deadline) while costing no CPU,
so slow or silent servers could otherwise hold every thread and leave none for pages and
health probes. Past the bound a fetch is refused at once as `busy`, with the time until
the oldest fetch in flight must have ended."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from app.core.errors import busy


class FetchGate:
    def __init__(self, fetch: Callable[[str], bytes], slots: int, deadline: float):
        self._fetch, self.slots, self.deadline = fetch, slots, deadline
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
            return self._fetch(url)
        finally:
            with self._lock:
                self._started.remove(began)
