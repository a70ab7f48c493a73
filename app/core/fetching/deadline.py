"""One deadline for the whole fetch, redirects and lookups included."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from app.core.fetching.codes import refused


def seconds(value: float) -> str:
    """1 -> "1 second", 2.5 -> "2.5 seconds"."""
    return f"{value:g} second{'' if value == 1 else 's'}"


class Deadline:
    """One deadline for the whole fetch. Socket timeouts bound each wait, not their sum: a
    server trickling its headers or body a byte at a time would hold the fetch for ever, so
    a timer cuts the connection in use when the time is up."""

    def __init__(self, limit: float):
        self.limit, self.at, self.expired = limit, time.monotonic() + limit, False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # the socket is never cut and closed at the same time
        self._timer = threading.Timer(limit, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.expired or self.left() <= 0:
            raise refused("url_timeout", f"The photo could not be fetched within "
                                         f"{seconds(self.limit)}.")

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                # The base class's shutdown: SSLSocket's own drops its TLS state under a reader.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self, *resources) -> None:
        with self._lock:
            self._sock = None
            for resource in resources:
                if resource is not None:
                    resource.close()

    def stop(self) -> None:
        self._timer.cancel()
