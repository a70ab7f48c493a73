"""Who the client is, through the front (`make serve`'s stack, as in test_front.py): a
forged X-Forwarded-For is not believed, a trusted load balancer's is; the scheme; request
ids; a real photo up and back, read slowly; a stop while an upload is being made.
"""

from __future__ import annotations

import io
import re
import signal
import socket
import time

import pytest
import requests
from PIL import Image

from tests.front import (
    LOAD_BALANCER,
    NEIGHBOUR,
    UNTRUSTED_PEER,
    UPLOADS_PER_ADDRESS,
    log_lines,
    session_from,
    start_stack,
)
from tests.processes import gunicorn_master
from tests.servers import UploadInFlight, csrf_token, eventually, stop, upload_through_the_page
from tests.support import photo

pytestmark = pytest.mark.alone


def _refused(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.ConnectionError:
        return True
    return False


TINY = photo(size=(32, 24))


def _probe(address: str, base, **headers) -> int:
    """A tiny upload from `address`, each time as a new visitor (a gallery of its own), so
    only the app's per-address limit can refuse it: the third within a minute from one
    client address is 429. (Refusals that spend nothing, such as a missing file, would not
    tell who was counted.)"""
    session = session_from(address)
    token = csrf_token(session, base)
    return session.post(f"{base}/", data={"name": "probe", "csrf_token": token},
                        files={"image": ("p.jpg", TINY, "image/jpeg")},
                        headers={"Accept": "application/json", **headers},
                        timeout=60).status_code


def test_a_forged_x_forwarded_for_is_not_believed(front_stack):
    """A client connecting directly (the shipped L4 Service) may send any X-Forwarded-For:
    the app still counts it by its own address."""
    base, _, _ = front_stack
    statuses = [_probe(UNTRUSTED_PEER, base, **{"X-Forwarded-For": f"203.0.113.{i}"})
                for i in range(1, UPLOADS_PER_ADDRESS + 2)]
    assert statuses == [201] * UPLOADS_PER_ADDRESS + [429]
    # Counted by its address, not by the front's: its neighbour still has its own count.
    assert _probe(NEIGHBOUR, base) == 201


def test_behind_a_trusted_load_balancer_the_client_is_the_entry_before_its_own(front_stack):
    """Google's HTTP(S) load balancer appends "<client>, <its own address>" to whatever the
    client sent, and connects from its own ranges (here LOAD_BALANCER stands for them): the
    app counts the client, whatever the client put before it, and not the balancer."""
    base, _, _ = front_stack
    balancer = LOAD_BALANCER
    client, balancer_ip = "203.0.113.50", "192.0.2.1"
    forged = [f"198.51.100.{i}, {client}, {balancer_ip}" for i in range(UPLOADS_PER_ADDRESS)]
    statuses = [_probe(balancer, base, **{"X-Forwarded-For": xff}) for xff in forged]
    # Another forged first entry does not make it someone else...
    statuses.append(_probe(balancer, base,
                           **{"X-Forwarded-For": f"10.0.0.1, {client}, {balancer_ip}"}))
    assert statuses == [201] * UPLOADS_PER_ADDRESS + [429]
    # ...and another client behind the same balancer has a count of its own.
    assert _probe(balancer, base, **{"X-Forwarded-For": f"203.0.113.51, {balancer_ip}"}) == 201


def test_the_scheme_comes_from_the_load_balancer_only(front_stack):
    """The balancer ends TLS and says so in X-Forwarded-Proto; the app then sends HSTS.
    The same header from anyone else is replaced by the front's own scheme."""
    base, _, _ = front_stack
    https = {"X-Forwarded-Proto": "https"}
    via_lb = session_from(LOAD_BALANCER).get(
        f"{base}/health", timeout=10,
        headers={**https, "X-Forwarded-For": "203.0.113.60, 192.0.2.1"})
    assert via_lb.headers["Strict-Transport-Security"] == "max-age=31536000"
    direct = session_from(UNTRUSTED_PEER).get(f"{base}/health", headers=https, timeout=10)
    assert "Strict-Transport-Security" not in direct.headers


def test_request_ids_are_passed_through_or_made(front_stack):
    base, _, log = front_stack
    kept = requests.get(f"{base}/health", headers={"X-Request-ID": "trace-abc.123"},
                        timeout=10)
    assert kept.headers["X-Request-ID"] == "trace-abc.123"
    made = requests.get(f"{base}/health", headers={"X-Request-ID": "not an id!"}, timeout=10)
    request_id = made.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    # The log lines are written as the requests end.
    eventually(lambda: all({"trace-abc.123", request_id} <= {
        e["request_id"] for e in log_lines(log, logger)} for logger in
        ("front", "app.http.observability")))
    for logger in ("front", "app.http.observability"):
        ids = {e["request_id"] for e in log_lines(log, logger)}
        assert {"trace-abc.123", request_id} <= ids, logger
        # Each line's level where Cloud Logging reads it: without it, all were ERRORs there.
        lines = [e for e in log_lines(log, logger) if e["request_id"] == request_id]
        assert [e["severity"] for e in lines] == ["INFO"], logger


def test_a_real_photo_goes_through_the_front_and_back(front_stack):
    base, _, log = front_stack
    session = requests.Session()
    record_id, _ = upload_through_the_page(session, base, photo("astronaut", size=(2048, 2048)))
    png = session.get(f"{base}/images/{record_id}/processed", timeout=30)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert (image.mode, image.size) == ("RGBA", (2048, 2048))
    assert image.getchannel("A").getpixel((0, 0)) < 16
    assert image.getchannel("A").getpixel((1024, 1024)) > 240

    # A reader that takes its time costs nginx a connection, not the app a thread: gunicorn
    # hands the whole file over at once and nginx feeds the reader from its own buffers.
    port = int(base.rsplit(":", 1)[1])
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    with socket.socket() as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", port))
        reader.sendall(f"GET /images/{record_id}/processed HTTP/1.1\r\nHost: localhost\r\n"
                       f"Cookie: {cookie}\r\nX-Request-ID: slow-reader\r\n"
                       f"Connection: close\r\n\r\n".encode())
        time.sleep(3)
        received = b""
        while chunk := reader.recv(1 << 20):
            received += chunk
    assert received.endswith(png.content)
    eventually(lambda: [e for e in log_lines(log, "front") if e["request_id"] == "slow-reader"])
    (line,) = [e for e in log_lines(log, "front") if e["request_id"] == "slow-reader"]
    assert line["seconds"] >= 3
    assert float(line["upstream_seconds"]) < 1


def test_a_stop_lets_the_upload_in_flight_finish(tmp_path):
    """What a rolling update does: SIGTERM to `make serve` while an upload is being made.
    The front stops first and gracefully (no new connections, but the request it passed on
    is answered), then gunicorn; everything exits cleanly."""
    # A 9 MP photo counts 3 uploads against the per-address limit (one per started 4 MP).
    process, base, _ = start_stack(tmp_path, UPLOAD_RATE_LIMIT_IP="10 per minute")
    try:
        upload = UploadInFlight(requests.Session(), base, gunicorn_master(process.pid),
                                photo("astronaut", size=(3000, 3000)))
        process.send_signal(signal.SIGTERM)
        # The front no longer takes connections, while the upload is still being made.
        eventually(lambda: _refused(f"{base}/health"))
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/health", timeout=5)
        assert upload.finished().status_code == 201
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
