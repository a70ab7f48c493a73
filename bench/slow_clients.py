"""Slow clients, as an attacker (or a bad mobile network) makes them: a header sent one line
at a time, a body trickled, and a poller that times `/health` meanwhile. Each connection
notes when and how the server ended it. Used by bench/front.py and tests/system/test_front*.py.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class Ending:
    """One connection's life: when it opened, when the client last sent, when the server
    ended it (None: it was still open when the client gave up) and what it answered."""

    opened: float
    last_sent: float
    ended: float | None = None
    received: bytes = b""


class _SlowClient(threading.Thread):
    """Opens a connection from `source` (a loopback address of its own, so per-address
    limits can tell clients apart), sends `first`, then one `piece()` every `interval`
    seconds, `pieces` times (None: forever), then waits for the server. With `reconnect`,
    a connection the server ended is replaced, so the pressure stays on."""

    def __init__(self, host: str, port: int, source: str, interval: float,
                 pieces: int | None, reconnect: bool):
        super().__init__(daemon=True)
        self.target = (host, port)
        self.source = source
        self.interval = interval
        self.pieces = pieces
        self.reconnect = reconnect
        self.stopping = threading.Event()
        self.sending = threading.Event()  # set once a connection's opening part is sent
        self.endings: list[Ending] = []

    def first(self) -> bytes:
        raise NotImplementedError

    def piece(self, index: int) -> bytes:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.endings.append(self._one_connection())
            if not self.reconnect:
                return

    def _one_connection(self) -> Ending:
        sock = socket.socket()
        sock.bind((self.source, 0))
        sock.connect(self.target)
        now = time.monotonic()
        ending = Ending(opened=now, last_sent=now)
        try:
            sock.sendall(self.first())
            ending.last_sent = time.monotonic()
            self.sending.set()
            sent = 0
            while not self.stopping.is_set():
                due = ending.last_sent + self.interval
                wait = max(0.0, due - time.monotonic())
                readable, _, _ = select.select([sock], [], [], min(wait, 0.1))
                if readable:  # the server answered or closed: this connection is over
                    ending.received = self._drain(sock)
                    ending.ended = time.monotonic()
                    return ending
                if time.monotonic() < due or (self.pieces is not None and sent >= self.pieces):
                    continue
                sock.sendall(self.piece(sent))
                ending.last_sent = time.monotonic()
                sent += 1
        except OSError:  # reset or broken pipe: the server dropped the connection
            ending.ended = time.monotonic()
        finally:
            sock.close()
        return ending

    @staticmethod
    def _drain(sock: socket.socket) -> bytes:
        """What the server sent, up to its close, or until it has said nothing more for a
        moment: nginx may keep a refused upload's connection open to discard its body, and
        a client waiting for that close would stay away longer than a real one does."""
        data = b""
        sock.settimeout(2)
        try:
            while chunk := sock.recv(65536):
                data += chunk
                sock.settimeout(0.2)
        except OSError:
            pass
        return data


class SlowHeaders(_SlowClient):
    """A GET whose header never ends: one more header line every `interval` seconds."""

    def first(self) -> bytes:
        return b"GET /health HTTP/1.1\r\nHost: localhost\r\n"

    def piece(self, index: int) -> bytes:
        return f"X-Slow-{index}: {'x' * 20}\r\n".encode()


BOUNDARY = "slowclientboundary"


class SlowBody(_SlowClient):
    """A form upload (multipart, as the page's form sends) whose body comes a few bytes at
    a time: the whole header at once, then 100 bytes of a 1 MB body every `interval` s."""

    size = 1024 * 1024

    def first(self) -> bytes:
        return (f"POST / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                f"Content-Length: {self.size}\r\n\r\n"
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()

    def piece(self, index: int) -> bytes:
        return b"\xff" * 100


@dataclass
class Poll:
    """`/health` asked every `every` seconds: (seconds taken, status or None on timeout)."""

    answers: list[tuple[float, int | None]] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(seconds for seconds, _ in self.answers)

    @property
    def statuses(self) -> set[int | None]:
        return {status for _, status in self.answers}


def poll_health(base: str, seconds: float, every: float = 0.5, timeout: float = 5.0) -> Poll:
    poll = Poll()
    end = time.monotonic() + seconds
    due = time.monotonic()
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            # A new connection each time, as a probe makes: no kept-alive shortcut.
            status = requests.get(f"{base}/health", timeout=timeout,
                                  headers={"Connection": "close"}).status_code
        except requests.RequestException:
            status = None
        taken = time.monotonic() - started
        poll.answers.append((taken, status))
        # On a fixed beat, so a late probe does not push every later one back.
        due += every
        time.sleep(max(0.0, due - time.monotonic()))
    return poll
