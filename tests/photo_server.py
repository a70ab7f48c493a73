"""A photo server on loopback for the tests of photos by URL: photos, redirects, errors,
bodies too large, trickles and silence, over http or https. Every wait in it ends when
RELEASE is set (at a test module's teardown)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from app.core.errors import Rejected
from app.core.fetching import fetch
from tests.support import photo

PHOTO = photo("chelsea")
LIMIT = 1024 * 1024
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
ONLY_127_0_0_1 = (ipaddress.ip_network("127.0.0.1/32"),)
RELEASE = threading.Event()  # ends every wait in the server


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list] = []  # (path, headers) of every request

    def do_GET(self):
        type(self).seen.append((self.path, dict(self.headers)))
        route, _, arg = self.path.lstrip("/").partition("/")
        route = "photo" if route == "fot%C3%B3" else route  # /fotó, as a client must send it
        # The client giving up (as it should) breaks the connection under the server.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            getattr(self, f"_{route.replace('-', '_')}")(arg)

    def _photo(self, _):
        self._send(200, PHOTO, {"Content-Type": "image/jpeg"})

    def _hops(self, arg, route="hops"):  # /hops/N: N redirects, then the photo
        n = int(arg)
        self._send(302, b"", {"Location": f"/{route}/{n - 1}" if n > 1 else "/photo"})

    def _slow_hops(self, arg):  # the same, each hop 0.8 s late
        RELEASE.wait(0.8)
        self._hops(arg, "slow-hops")

    def _to(self, arg):  # /to/<status>/<location>
        status, _, location = arg.partition("/")
        self._send(int(status), b"", {"Location": location} if location else {})

    def _utf8_location(self, _):  # a non-ASCII path, sent as servers send it: UTF-8 bytes
        self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: /fot\xc3\xb3\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    def _status(self, arg):
        self._send(int(arg), b"nothing here")

    def _gzip(self, _):
        self._send(200, PHOTO, {"Content-Encoding": "gzip"})

    def _big(self, _):  # says it is too large, then waits: reading it would time out
        self._head(200, {"Content-Length": str(3 * LIMIT)})
        RELEASE.wait(30)

    def _endless(self, arg):  # no Content-Length, or chunked: bytes until the client stops
        chunked = arg == "chunked"
        self._head(200, {"Transfer-Encoding": "chunked"} if chunked else {})
        block = b"\xff" * 65536
        while not RELEASE.is_set():
            self.wfile.write(b"10000\r\n" + block + b"\r\n" if chunked else block)

    def _sized(self, arg):  # /sized/<n>/<plain|chunked>: exactly n bytes, no Content-Length
        n, _, framing = arg.partition("/")
        body = b"\xff" * int(n)
        if framing == "chunked":
            self._head(200, {"Transfer-Encoding": "chunked"})
            for i in range(0, len(body), 65536):
                block = body[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._head(200, {})
            self.wfile.write(body)
        self.close_connection = True

    def _declared(self, arg):  # /declared/<n>: says n bytes, then waits (reading would hang)
        self._head(200, {"Content-Length": arg})
        RELEASE.wait(30)

    def _short(self, _):  # promises more than it sends, then hangs up
        self._head(200, {"Content-Length": "1000"})
        self.wfile.write(b"only ten b")
        self.close_connection = True

    def _trickle(self, arg):  # a byte every 0.2 s for 8 s, of the body or of the headers
        if arg == "headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        else:
            self._head(200, {})
        for _ in range(40):
            if RELEASE.wait(0.2):
                break
            self.wfile.write(b"X")
            self.wfile.flush()

    def _silent(self, _):  # reads the request, answers nothing
        RELEASE.wait(30)

    def _head(self, status, headers):
        self.send_response(status)
        for name, value in {"Connection": "close", **headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status, body, headers=None):
        self._head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that refuses the certificate or hangs up is what the tests ask for.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def serve(tls: ssl.SSLContext | None = None):
    server = _Server(("127.0.0.1", 0), Handler)
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(url, **options):
    options.setdefault("max_bytes", LIMIT)
    options.setdefault("allowed_networks", LOOPBACK)
    return fetch(url, **options)


def refused(url, **options) -> Rejected:
    with pytest.raises(Rejected) as caught:
        get(url, **options)
    return caught.value


class Resolver:
    def __init__(self, *answers):
        self.answers, self.calls = list(answers), 0

    def __call__(self, host, port, *args):
        self.calls += 1
        ip = self.answers[min(self.calls, len(self.answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
