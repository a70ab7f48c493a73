"""The production stack as `make serve` runs it (scripts/serve.py): Debian's nginx with
k8s/front/nginx.conf on a loopback port, gunicorn with gunicorn.conf.py behind it, the real
model. Slow clients, oversized uploads, nginx's own error pages, client addresses behind
a load balancer, a real upload and a graceful stop, all over real sockets.

Without nginx these tests skip and say why; under CI (`CI` or `REQUIRE_FRONT=1`, which
`.ci/run` sets) a missing nginx fails the run instead.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from PIL import Image
from requests.adapters import HTTPAdapter
from urllib3 import encode_multipart_formdata

from bench.slow_clients import SlowBody, SlowHeaders, poll_health
from scripts import serve
from tests.processes import cpu_seconds, workers
from tests.servers import (
    ROOT,
    clean_env,
    csrf_token,
    free_port,
    start,
    stop,
    upload_through_the_page,
)
from tests.support import photo

REQUIRED = (os.environ.get("REQUIRE_FRONT") == "1"
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))
NGINX_CONF = serve.NGINX_CONF.read_text()
SECRET = "front-test-secret-key-0123456789"
# Every group of clients comes from its own loopback address, so the per-address limits
# (nginx's and the app's) tell them apart; the poller and page visits use 127.0.0.1.
SLOW_HEADERS_FROM, SLOW_BODIES_FROM = "127.0.0.2", "127.0.0.3"
UNTRUSTED_PEER, LOAD_BALANCER = "127.0.0.4", "127.0.0.5"
CROWD_FROM, UPLOADER_FROM, NEIGHBOUR = "127.0.0.6", "127.0.0.7", "127.0.0.8"
# The app's per-address upload limit in this stack: a third try within the minute is 429.
UPLOADS_PER_ADDRESS = 2


def nginx_setting(name: str) -> str:
    (value,) = re.findall(rf"^\s*{name}\s+([^;]+);", NGINX_CONF, re.M)
    return value


def seconds(name: str) -> float:
    value = nginx_setting(name)
    assert value.endswith("s"), value
    return float(value[:-1])


def nginx_or_skip() -> str:
    nginx = serve.find_nginx()
    if nginx is None:
        reason = "nginx is not installed (Debian/Ubuntu: apt-get install nginx)"
        if REQUIRED:
            pytest.fail(f"{reason}, but the front tests must run here (CI / REQUIRE_FRONT=1).",
                        pytrace=False)
        pytest.skip(reason)
    return nginx


class _From(HTTPAdapter):
    """Connections from a given loopback address."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _From(address))
    return session


def start_stack(folder, **extra):
    nginx_or_skip()
    port, app_port = free_port(), free_port()
    env = clean_env(APP_SECRET_KEY=SECRET, PORT=str(port), BG_ENGINE="local",
                    UPLOAD_RATE_LIMIT_IP=f"{UPLOADS_PER_ADDRESS} per minute", **extra)
    command = [sys.executable, "-m", "scripts.serve", "--app-port", str(app_port),
               "--trust-lb", LOAD_BALANCER]
    process, base = start(command, env, port, folder)
    return process, base, f"http://127.0.0.1:{app_port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("front")
    process, base, app = start_stack(folder)
    yield base, app, folder / "log"
    stop(process)


def log_lines(log, logger: str) -> list[dict]:
    """The JSON lines one logger wrote: "front" (nginx) or "app.observability". Every
    line that looks like one must be whole: nginx and gunicorn share the log file."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if '"logger"' in line:
            entry = json.loads(line)
            if entry.get("logger") == logger:
                lines.append(entry)
    return lines


def test_slow_clients_cost_the_app_nothing_and_are_cut(stack):
    """40 connections sending a header line every 4 s and 10 trickling a multipart body
    (two more pieces, then silence) for 20 s: /health, asked every 0.5 s, answers 200 in
    well under a second throughout; nginx ends each header after client_header_timeout and
    each silent body after client_body_timeout, without an answer; the app never sees them."""
    base, _, log = stack
    port = int(base.rsplit(":", 1)[1])
    headers = [SlowHeaders("127.0.0.1", port, SLOW_HEADERS_FROM, interval=4, pieces=None,
                           reconnect=True) for _ in range(40)]
    bodies = [SlowBody("127.0.0.1", port, SLOW_BODIES_FROM, interval=4, pieces=2,
                       reconnect=True) for _ in range(10)]
    for client in headers + bodies:
        client.start()
    time.sleep(0.5)
    poll = poll_health(base, seconds=20, every=0.5)
    for client in headers + bodies:
        client.stop()
    for client in headers + bodies:
        client.join(10)

    assert len(poll.answers) >= 38
    assert poll.statuses == {200}
    assert poll.worst < 1.0, poll.answers

    header_timeout, body_timeout = seconds("client_header_timeout"), seconds(
        "client_body_timeout")
    for client in headers:
        first = client.endings[0]
        assert first.ended is not None, "a slow header outlived the 20 s"
        assert header_timeout - 0.5 <= first.ended - first.opened <= header_timeout + 2
        assert first.received == b""
        assert len(client.endings) >= 2  # it came back, and was let in again
    for client in bodies:
        first = client.endings[0]
        assert first.ended is not None, "a silent body outlived the 20 s"
        assert body_timeout - 0.5 <= first.ended - first.last_sent <= body_timeout + 2
        assert first.received == b""

    front = log_lines(log, "front")
    cut = [e for e in front if e["status"] == 408]
    assert sum(1 for e in cut if e["client"] == SLOW_HEADERS_FROM) >= 40
    assert sum(1 for e in cut if e["client"] == SLOW_BODIES_FROM) >= 10
    assert all(e["upstream_seconds"] == "" for e in cut)  # never passed to the app
    assert [e for e in log_lines(log, "app.observability") if e["method"] == "POST"] == []


def test_a_file_just_over_the_app_limit_gets_the_apps_message(stack):
    base, _, _ = stack
    session = session_from(UPLOADER_FROM)
    token = csrf_token(session, base)
    response = session.post(f"{base}/", data={"name": "big", "csrf_token": token},
                            files={"image": ("big.jpg", os.urandom(16 * 1024**2), "image/jpeg")},
                            allow_redirects=False, timeout=60)
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert ("The file is too large. Please upload an image of at most 15 MB."
            in session.get(f"{base}/").text)


FRONT_TOO_LARGE = "The file is too large: this server accepts at most 20 MB per upload."


def test_a_far_bigger_body_is_refused_by_the_front(stack):
    base, _, log = stack
    assert nginx_setting("client_max_body_size") == "20m"  # the number in the sentence
    blob = os.urandom(40 * 1024**2)
    page = requests.post(f"{base}/", files={"image": ("huge.jpg", blob, "image/jpeg")},
                         timeout=60)
    assert page.status_code == 413
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<p>{FRONT_TOO_LARGE}</p>" in page.text
    api = requests.post(f"{base}/api/v1/records", files={"image": ("huge.jpg", blob)},
                        timeout=60)
    assert api.status_code == 413
    assert api.headers["Content-Type"] == "application/json"
    assert api.json() == {"error": "too_large", "message": FRONT_TOO_LARGE}
    # The page's script posts with Accept: application/json and shows `message`.
    script = requests.post(f"{base}/", files={"image": ("huge.jpg", blob)}, timeout=60,
                           headers={"Accept": "application/json"})
    assert script.json() == {"error": "too_large", "message": FRONT_TOO_LARGE}
    assert not [e for e in log_lines(log, "app.observability") if e["status"] == 413
                and e["path"] == "/api/v1/records"]


def test_metrics_are_not_served_through_the_front(stack):
    base, app, _ = stack
    page = requests.get(f"{base}/metrics", timeout=10)
    assert page.status_code == 404
    assert "<p>There is nothing here.</p>" in page.text
    api = requests.get(f"{base}/metrics", headers={"Accept": "application/json"}, timeout=10)
    assert api.json() == {"error": "not_found", "message": "There is nothing here."}
    # Encoded or doubled slashes are the same path to nginx.
    for path in ("/%6detrics", "//metrics", "/metrics?x=1"):
        assert requests.get(f"{base}{path}", timeout=10).status_code == 404, path
    # Prometheus's way in: the app's own port, from a private address.
    direct = requests.get(f"{app}/metrics", timeout=10)
    assert direct.status_code == 200 and "ibp_http_requests_total" in direct.text


def test_too_many_requests_at_once_from_one_address(stack):
    """limit_conn: while one address has 20 requests in progress (slow uploads here), its
    next one is refused at once with a sentence; other addresses are served as usual."""
    base, _, _ = stack
    port = int(base.rsplit(":", 1)[1])
    limit = int(nginx_setting("limit_conn per_client"))
    crowd = [SlowBody("127.0.0.1", port, CROWD_FROM, interval=1, pieces=None,
                      reconnect=False) for _ in range(limit)]
    for client in crowd:
        client.start()
    try:
        time.sleep(1)
        crowded = session_from(CROWD_FROM)
        refused = crowded.get(f"{base}/health", timeout=10)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"
        assert ("<p>Too many requests from your address at once. Please wait a moment and "
                "try again.</p>") in refused.text
        api = crowded.get(f"{base}/api/v1/records", timeout=10)
        assert (api.status_code, api.json()["error"]) == (429, "too_many_requests")
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
    finally:
        for client in crowd:
            client.stop()
        for client in crowd:
            client.join(10)
    time.sleep(0.5)
    assert session_from(CROWD_FROM).get(f"{base}/health", timeout=10).status_code == 200


def _probe(session, base, **headers) -> int:
    """An upload without a file: cheap, yet counted by the app's per-address limit (the
    third within a minute from one client address is 429)."""
    token = csrf_token(session, base)
    return session.post(f"{base}/", data={"name": "probe", "csrf_token": token},
                        headers={"Accept": "application/json", **headers},
                        timeout=10).status_code


def test_a_forged_x_forwarded_for_is_not_believed(stack):
    """A client connecting directly (the shipped L4 Service) may send any X-Forwarded-For:
    the app still counts it by its own address."""
    base, _, _ = stack
    session = session_from(UNTRUSTED_PEER)
    statuses = [_probe(session, base, **{"X-Forwarded-For": f"203.0.113.{i}"})
                for i in range(1, UPLOADS_PER_ADDRESS + 2)]
    assert statuses == [400] * UPLOADS_PER_ADDRESS + [429]
    # Counted by its address, not by the front's: its neighbour still has its own count.
    assert _probe(session_from(NEIGHBOUR), base) == 400


def test_behind_a_trusted_load_balancer_the_client_is_the_entry_before_its_own(stack):
    """Google's HTTP(S) load balancer appends "<client>, <its own address>" to whatever the
    client sent, and connects from its own ranges (here LOAD_BALANCER stands for them): the
    app counts the client, whatever the client put before it, and not the balancer."""
    base, _, _ = stack
    balancer = session_from(LOAD_BALANCER)
    client, balancer_ip = "203.0.113.50", "192.0.2.1"
    forged = [f"198.51.100.{i}, {client}, {balancer_ip}" for i in range(UPLOADS_PER_ADDRESS)]
    statuses = [_probe(balancer, base, **{"X-Forwarded-For": xff}) for xff in forged]
    # Another forged first entry does not make it someone else...
    statuses.append(_probe(balancer, base,
                           **{"X-Forwarded-For": f"10.0.0.1, {client}, {balancer_ip}"}))
    assert statuses == [400] * UPLOADS_PER_ADDRESS + [429]
    # ...and another client behind the same balancer has a count of its own.
    assert _probe(balancer, base, **{"X-Forwarded-For": f"203.0.113.51, {balancer_ip}"}) == 400


def test_the_scheme_comes_from_the_load_balancer_only(stack):
    """The balancer ends TLS and says so in X-Forwarded-Proto; the app then sends HSTS.
    The same header from anyone else is replaced by the front's own scheme."""
    base, _, _ = stack
    https = {"X-Forwarded-Proto": "https"}
    via_lb = session_from(LOAD_BALANCER).get(
        f"{base}/health", timeout=10,
        headers={**https, "X-Forwarded-For": "203.0.113.60, 192.0.2.1"})
    assert via_lb.headers["Strict-Transport-Security"] == "max-age=31536000"
    direct = session_from(UNTRUSTED_PEER).get(f"{base}/health", headers=https, timeout=10)
    assert "Strict-Transport-Security" not in direct.headers


def test_request_ids_are_passed_through_or_made(stack):
    base, _, log = stack
    kept = requests.get(f"{base}/health", headers={"X-Request-ID": "trace-abc.123"},
                        timeout=10)
    assert kept.headers["X-Request-ID"] == "trace-abc.123"
    made = requests.get(f"{base}/health", headers={"X-Request-ID": "not an id!"}, timeout=10)
    request_id = made.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    time.sleep(0.2)  # the log lines are written as the requests end
    for logger in ("front", "app.observability"):
        ids = {e["request_id"] for e in log_lines(log, logger)}
        assert {"trace-abc.123", request_id} <= ids, logger


def test_a_real_photo_goes_through_the_front_and_back(stack):
    base, _, log = stack
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
    time.sleep(0.2)
    (line,) = [e for e in log_lines(log, "front") if e["request_id"] == "slow-reader"]
    assert line["seconds"] >= 3
    assert float(line["upstream_seconds"]) < 1


def test_static_files_are_compressed_and_pages_are_not(stack):
    base, _, _ = stack
    css = requests.get(f"{base}/static/vendor/bootstrap/bootstrap.min.css", stream=True,
                       headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert css.headers["Content-Encoding"] == "gzip"
    assert css.headers["Vary"] == "Accept-Encoding"
    compressed = css.raw.read()
    original = (ROOT / "app/static/vendor/bootstrap/bootstrap.min.css").read_bytes()
    assert gzip.decompress(compressed) == original
    assert len(compressed) < len(original) / 4
    # The page holds the visitor's CSRF token next to what they typed (BREACH).
    page = requests.get(f"{base}/", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert "Content-Encoding" not in page.headers


def test_when_the_app_is_down_the_front_says_so(tmp_path):
    """The front alone, its app's port closed (gunicorn not started, or restarting)."""
    nginx = nginx_or_skip()
    port = free_port()
    config = serve.write_front_config(tmp_path, "127.0.0.1", port, free_port())
    process = subprocess.Popen(serve.nginx_command(nginx, config, tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                # The front's own liveness does not depend on the app.
                assert requests.get(f"{base}/_front/health", timeout=2).text == "ok\n"
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        sentence = ("The app is not answering right now (it may be restarting). "
                    "Please try again in a few seconds.")
        page = requests.get(f"{base}/", timeout=10)
        assert (page.status_code, page.headers["Retry-After"]) == (502, "10")
        assert f"<p>{sentence}</p>" in page.text
        api = requests.get(f"{base}/api/v1/records", timeout=10)
        assert (api.status_code, api.headers["Retry-After"]) == (502, "10")
        assert api.json() == {"error": "app_unavailable", "message": sentence}
    finally:
        process.send_signal(signal.SIGQUIT)
        assert process.wait(timeout=10) == 0


def _gunicorn_workers(serve_pid: int) -> list[int]:
    """The gunicorn workers under scripts/serve.py (its other child is nginx)."""
    for child in workers(serve_pid):
        if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
            return workers(child)
    raise AssertionError("no gunicorn under scripts/serve.py")


def test_a_stop_lets_the_upload_in_flight_finish(tmp_path):
    """What a rolling update does: SIGTERM to `make serve` while an upload is being made.
    The front stops first and gracefully (no new connections, but the request it passed on
    is answered), then gunicorn; everything exits cleanly."""
    process, base, _ = start_stack(tmp_path)
    try:
        session = requests.Session()
        token = csrf_token(session, base)
        body, content_type = encode_multipart_formdata(
            {"name": "inflight", "csrf_token": token,
             "image": ("big.jpg", photo("astronaut", size=(3000, 3000)), "image/jpeg")})
        sent = threading.Event()

        def chunks():
            for i in range(0, len(body), 64 * 1024):
                yield body[i:i + 64 * 1024]
            sent.set()

        result = {}

        def post():
            try:
                result["response"] = session.post(
                    f"{base}/", data=chunks(), timeout=120,
                    headers={"Content-Type": content_type, "Accept": "application/json"})
            except requests.RequestException as exc:
                result["error"] = exc

        pids = _gunicorn_workers(process.pid)
        cpu_before = cpu_seconds(pids)
        client = threading.Thread(target=post)
        client.start()
        assert sent.wait(60)
        # The front passes the body on once it has all of it; half a second of worker CPU
        # means the app has it and is decoding the photo (9 MP take about 3 s of CPU).
        while cpu_seconds(pids) - cpu_before < 0.5 and client.is_alive():
            time.sleep(0.05)
        assert client.is_alive(), result
        process.send_signal(signal.SIGTERM)
        # The front no longer takes connections, while the upload is still being made.
        time.sleep(0.5)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/health", timeout=5)
        client.join(120)
        assert "error" not in result, result.get("error")
        assert result["response"].status_code == 201
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
