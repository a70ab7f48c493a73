"""Request lines and header lines at the edges of the front's and gunicorn's limits: each is
answered by the app, or refused by the front with its sentence (JSON under /api/ and for
scripts, HTML otherwise), never with gunicorn's own HTML page. Raw sockets, so the lines are
exactly as long as written."""

from __future__ import annotations

import json
import re
import socket

import pytest
from gunicorn.config import LimitRequestFieldSize, LimitRequestLine

from tests.front import LOAD_BALANCER, NGINX_CONF, nginx_setting
from tests.servers import ROOT

pytestmark = pytest.mark.alone

TOO_LONG = {"error": "uri_too_long", "message": "The address is too long."}
HEADERS_TOO_LARGE = {"error": "bad_request",
                     "message": "The request could not be understood: its first line or its "
                                "headers are malformed or too large."}
NO_ENDPOINT = {"error": "not_found", "message": "There is no such API endpoint. The API is "
                                                "described at /api/v1/openapi.json."}
# What nginx sends gunicorn after the method and URI: " HTTP/1.0" (proxy_http_version 1.0).
AFTER_URI = len(" HTTP/1.0")
LINE_LIMIT = LimitRequestLine.default  # gunicorn.conf.py leaves it as it is
LONGEST = LINE_LIMIT - AFTER_URI  # "<method> <uri>" the app still gets
BUFFER = 8000  # large_client_header_buffers: the longest header line, with its CRLF


def ask(base: str, method: str, target: str, headers=(), source="127.0.0.1",
        host="localhost") -> tuple[int, str, bytes]:
    """(status, content type, body) for a request written byte for byte."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20,
                                  source_address=(source, 0)) as sock:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "Connection: close"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    found = re.search(rb"\r\ncontent-type: *([^\r;]+)", head, re.I)
    return status, found.group(1).decode() if found else "", body


def target(method: str, path: str, length: int) -> str:
    """`path` and a query making "<method> <uri>" exactly `length` bytes."""
    return path + "?q=" + "a" * (length - len(f"{method} {path}?q="))


def test_the_fronts_limits_are_below_gunicorns():
    """The numbers the tests below stand on: nginx refuses before gunicorn would."""
    conf = (ROOT / "gunicorn.conf.py").read_text()
    assert "limit_request_line" not in conf and "limit_request_field_size" not in conf
    assert re.search(r'"~\^\.\{(\d+)\}" 1;', NGINX_CONF).group(1) == str(LONGEST + 1)
    assert nginx_setting("large_client_header_buffers") == f"4 {BUFFER}"
    # The longest header line nginx passes, grown by X-Forwarded-For's ", <IPv6 address>"
    # or by Host sent again as X-Forwarded-Host, still fits gunicorn's field limit.
    assert BUFFER - 2 + len(", ") + 39 + 1 <= LimitRequestFieldSize.default - 2


def test_many_headers_reach_the_app(front_stack):
    """nginx bounds headers by size, not count: 500 short ones (gunicorn's default of 100
    fields answered its own HTML 431) are the app's to answer."""
    base, _, _ = front_stack
    status, kind, body = ask(base, "GET", "/health",
                             headers=[f"X-Note-{n}: {n}" for n in range(500)])
    assert (status, kind, json.loads(body)) == (200, "application/json", {"status": "Healthy"})


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_request_line_gunicorn_would_refuse_gets_the_fronts_414(front_stack, method):
    base, _, _ = front_stack
    assert ask(base, method, target(method, "/api/v1/x", LONGEST)) == (
        404, "application/json", json.dumps(NO_ENDPOINT, separators=(",", ":")).encode()
        + b"\n")
    for length in (LONGEST + 1, 6000, BUFFER - 20):  # before: gunicorn's own HTML 414
        status, kind, body = ask(base, method, target(method, "/api/v1/x", length))
        assert (status, kind, json.loads(body)) == (414, "application/json", TOO_LONG)


def test_a_long_address_on_the_page_gets_the_fronts_page_or_json(front_stack):
    base, _, _ = front_stack
    status, kind, body = ask(base, "GET", target("GET", "/", 5000))
    assert (status, kind) == (414, "text/html")
    assert f"<p>{TOO_LONG['message']}</p>".encode() in body
    status, kind, body = ask(base, "GET", target("GET", "/", 5000),
                             headers=["Accept: application/json"])
    assert (status, kind, json.loads(body)) == (414, "application/json", TOO_LONG)


def test_header_lines_are_the_apps_up_to_the_fronts_limit(front_stack):
    """Up to the limit the app answers, however the front grows the line on its way (a
    trusted balancer's X-Forwarded-For gets the peer's address); one byte more is the
    front's 400 with its sentence (before: 8189 and 8190 bytes got gunicorn's HTML 431)."""
    base, _, _ = front_stack
    longest = BUFFER - 2
    for header in ("X-Big: ", "X-Forwarded-For: "):
        fits = header + "1" * (longest - len(header))
        status, kind, body = ask(base, "GET", "/api/v1/x", headers=[fits], source=LOAD_BALANCER)
        assert (status, kind, json.loads(body)) == (404, "application/json", NO_ENDPOINT)
        status, kind, body = ask(base, "GET", "/api/v1/x", headers=[fits + "1"],
                                 source=LOAD_BALANCER)
        assert (status, kind, json.loads(body)) == (400, "application/json", HEADERS_TOO_LARGE)


def test_a_path_the_front_cannot_decode_is_answered_in_the_doors_shape(front_stack):
    """A %00 in the path is refused by nginx as it decodes the path, before there is a $uri:
    the door is read from the request line, so the API and remove.bg's clients still get
    their JSON (before: the HTML page, whatever the path), in either form of the target."""
    base, _, _ = front_stack
    for path in ("/api/v1/records%00", "http://localhost/api/v1/records/%00"):
        status, kind, body = ask(base, "GET", path)
        assert (status, kind, json.loads(body)) == (400, "application/json", HEADERS_TOO_LARGE)
    status, kind, body = ask(base, "POST", "/v1.0/removebg%00")
    assert (status, kind, json.loads(body)) == (400, "application/json", {"errors": [
        {"title": HEADERS_TOO_LARGE["message"], "code": "bad_request",
         "detail": "Invalid request"}]})
    status, kind, body = ask(base, "GET", "/%00")
    assert (status, kind) == (400, "text/html")
    assert f"<p>{HEADERS_TOO_LARGE['message']}</p>".encode() in body


def test_a_raw_byte_outside_ascii_in_the_line_gets_the_fronts_400_in_the_doors_shape(
        front_stack):
    """gunicorn answered its own HTML page, repeating the line (helper 79); %-encoded, as a
    browser sends it, it reaches the app."""
    base, _, _ = front_stack
    status, kind, body = ask(base, "GET", "/api/v1/records?name=café")
    assert (status, kind, json.loads(body)) == (400, "application/json", HEADERS_TOO_LARGE)
    status, kind, body = ask(base, "GET", "/v1.0/account?\u00e9")
    assert (status, json.loads(body)["errors"][0]["code"]) == (400, "bad_request")
    status, kind, body = ask(base, "GET", "/\u00e9")
    assert (status, kind) == (400, "text/html") and b"HTTP/1.0" not in body
    status, kind, body = ask(base, "GET", "/api/v1/nothing?name=caf%C3%A9")
    assert (status, kind, json.loads(body)) == (404, "application/json", NO_ENDPOINT)
    status, kind, body = ask(base, "GET", "/api/v1/nothing?name=~!")  # the edges of ASCII
    assert (status, kind, json.loads(body)) == (404, "application/json", NO_ENDPOINT)


METHOD = {"error": "method_not_allowed", "message": "TRACE is not allowed here."}
CODING = {"error": "not_implemented",
          "message": "A body sent with that Transfer-Encoding cannot be read here: send it as "
                     "it is, with Content-Length, or chunked."}
VERSION = {"error": "http_version_not_supported",
           "message": "This HTTP version is not spoken here: send HTTP/1.1."}


def test_what_nginx_refuses_before_the_app_is_answered_in_the_doors_shape(front_stack):
    """TRACE, a Transfer-Encoding nginx cannot undo, an HTTP version it does not speak:
    refused by nginx itself (before: its own HTML page at every door, with no sentence)."""
    base, _, _ = front_stack
    status, kind, body = ask(base, "TRACE", "/api/v1/records")
    assert (status, kind, json.loads(body)) == (405, "application/json", METHOD)
    status, kind, body = ask(base, "POST", "/api/v1/remove",
                             headers=["Transfer-Encoding: gzip", "Content-Length: 0"])
    assert (status, kind, json.loads(body)) == (501, "application/json", CODING)
    status, kind, body = ask(base, "TRACE", "/v1.0/removebg")
    assert (status, kind, json.loads(body)) == (405, "application/json", {"errors": [
        {"title": METHOD["message"], "code": "method_not_allowed",
         "detail": "Method not allowed"}]})
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"GET /api/v1/records HTTP/2.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"505" and json.loads(body) == VERSION
    status, kind, body = ask(base, "TRACE", "/")
    assert (status, kind) == (405, "text/html")
    assert f"<p>{METHOD['message']}</p>".encode() in body


@pytest.mark.parametrize("target, shape", [
    ("//v1.0/removebg", "removebg"), ("/./v1.0/removebg", "removebg"),
    ("/%61pi/v1/records", "json"), ("//api/v1/records", "json"),
    ("HTTP://localhost/api/v1/records", "json"), ("/v1.0%2Fremovebg", "removebg"),
    ("/apiary/v1", "html")])
def test_the_door_is_told_by_the_path_as_nginx_reads_it(front_stack, target, shape):
    """A base URL with a trailing slash makes //v1.0/...: the door is the normalised path's,
    as the app's own routing sees it, not the request line's letters."""
    base, _, _ = front_stack
    status, kind, body = ask(base, "TRACE", target)
    assert status == 405
    if shape == "html":
        assert kind == "text/html" and f"<p>{METHOD['message']}</p>".encode() in body
    elif shape == "json":
        assert (kind, json.loads(body)) == ("application/json", METHOD)
    else:
        assert (kind, json.loads(body)) == ("application/json", {"errors": [
            {"title": METHOD["message"], "code": "method_not_allowed",
             "detail": "Method not allowed"}]})
