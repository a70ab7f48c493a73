"""The production stack as `make serve` runs it (scripts/serve.py): Debian's nginx with
k8s/front/nginx.conf on a loopback port, gunicorn with gunicorn.conf.py behind it, the real
model. Slow clients, oversized uploads, nginx's own answers and compression, over real
sockets. Client addresses, a real upload and a graceful stop: test_front_clients.py.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import time

import pytest
import requests

from bench.slow_clients import SlowBody, SlowHeaders, poll_health
from scripts import serve
from tests.front import (
    CROWD_FROM,
    HEAVY_FROM,
    NEIGHBOUR,
    SLOW_BODIES_FROM,
    SLOW_HEADERS_FROM,
    UPLOADER_FROM,
    log_lines,
    nginx_or_skip,
    nginx_setting,
    seconds,
    session_from,
)
from tests.servers import ROOT, csrf_token, eventually, free_port

pytestmark = pytest.mark.alone
SMALL_BODY = 50_000  # bytes: under the 100 KB from which a body counts as large


def test_slow_clients_cost_the_app_nothing_and_are_cut(front_stack):
    """40 connections sending a header line every 4 s and 10 trickling a multipart body
    (two more pieces, then silence) for 20 s: /health, asked every 0.5 s, answers 200 in
    well under a second throughout; nginx ends each header after client_header_timeout and
    each silent body after client_body_timeout, without an answer; the app never sees them."""
    base, _, log = front_stack
    port = int(base.rsplit(":", 1)[1])
    headers = [SlowHeaders("127.0.0.1", port, SLOW_HEADERS_FROM, interval=4, pieces=None,
                           reconnect=True) for _ in range(40)]
    bodies = [SlowBody("127.0.0.1", port, SLOW_BODIES_FROM, interval=4, pieces=2,
                       reconnect=True) for _ in range(10)]
    for client in bodies:  # under 100 KB: not the 4 large bodies an address may send at once
        client.size = SMALL_BODY
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
    assert [e for e in log_lines(log, "app.http.observability") if e["method"] == "POST"] == []


# One sentence for one limit, whether the app refuses the file or nginx the whole body.
TOO_LARGE = "The file is too large. Please upload an image of at most 15 MB."


def test_a_file_just_over_the_app_limit_gets_the_apps_message(front_stack):
    base, _, _ = front_stack
    session = session_from(UPLOADER_FROM)
    token = csrf_token(session, base)
    response = session.post(f"{base}/", data={"name": "big", "csrf_token": token},
                            files={"image": ("big.jpg", os.urandom(16 * 1024**2), "image/jpeg")},
                            allow_redirects=False, timeout=60)
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert TOO_LARGE in session.get(f"{base}/").text


def test_a_far_bigger_body_is_refused_by_the_front(front_stack):
    base, _, log = front_stack
    assert nginx_setting("client_max_body_size") == "20m"
    blob = os.urandom(40 * 1024**2)
    page = requests.post(f"{base}/", files={"image": ("huge.jpg", blob, "image/jpeg")},
                         timeout=60)
    assert page.status_code == 413
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<p>{TOO_LARGE}</p>" in page.text
    api = requests.post(f"{base}/api/v1/records", files={"image": ("huge.jpg", blob)},
                        timeout=60)
    assert api.status_code == 413
    assert api.headers["Content-Type"] == "application/json"
    assert api.json() == {"error": "too_large", "message": TOO_LARGE}
    # The page's script posts with Accept: application/json and shows `message`.
    script = requests.post(f"{base}/", files={"image": ("huge.jpg", blob)}, timeout=60,
                           headers={"Accept": "application/json"})
    assert script.json() == {"error": "too_large", "message": TOO_LARGE}
    removebg = requests.post(f"{base}/v1.0/removebg", files={"image_file": ("huge.jpg", blob)},
                             timeout=60)
    assert removebg.status_code == 413
    assert removebg.json() == {"errors": [{"title": TOO_LARGE, "code": "file_too_large",
                                           "detail": "Request failed"}]}
    assert not [e for e in log_lines(log, "app.http.observability") if e["status"] == 413
                and e["path"] == "/api/v1/records"]


HEADERS_TOO_LARGE = ("The request could not be understood: its first line or its headers are "
                     "malformed or too large.")


def test_headers_too_large_get_the_fronts_sentence(front_stack):
    """A header line over large_client_header_buffers: nginx's own status for it is 494,
    sent as 400; the answer is the front's sentence, in HTML or JSON, not nginx's page."""
    base, _, _ = front_stack
    big = {"X-Big": "a" * 20000}
    page = requests.get(f"{base}/", headers=big, timeout=10)
    assert page.status_code == 400
    assert f"<p>{HEADERS_TOO_LARGE}</p>" in page.text
    api = requests.get(f"{base}/api/v1/records", headers=big, timeout=10)
    assert api.status_code == 400
    assert api.json() == {"error": "bad_request", "message": HEADERS_TOO_LARGE}


def test_metrics_are_not_served_through_the_front(front_stack):
    base, app, _ = front_stack
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


def test_too_many_requests_at_once_from_one_address(front_stack):
    """limit_conn: while one address has 20 requests in progress (slow uploads here), its
    next one is refused at once with a sentence; other addresses are served as usual."""
    base, _, _ = front_stack
    port = int(base.rsplit(":", 1)[1])
    limit = int(nginx_setting("limit_conn per_client"))
    # A slow upload whose header arrives while a probe below is in progress is the one
    # refused (the 21st); it comes back, so the crowd ends up holding all 20.
    crowd = [SlowBody("127.0.0.1", port, CROWD_FROM, interval=1, pieces=None,
                      reconnect=True) for _ in range(limit)]
    for client in crowd:
        client.size = SMALL_BODY
        client.start()
    try:
        eventually(lambda: all(client.sending.is_set() for client in crowd))
        crowded = session_from(CROWD_FROM)
        # Counted once each connection's header is in: soon after it is sent.
        # Each probe holds a place while it is answered; probing seldom leaves the crowd
        # time to take all 20 between probes.
        eventually(lambda: crowded.get(f"{base}/health", timeout=10).status_code == 429,
                   seconds=30, every=0.5)
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
    # Let in again once nginx has seen the connections close.
    eventually(lambda: session_from(CROWD_FROM).get(f"{base}/health", timeout=10).status_code
               == 200)
    assert session_from(CROWD_FROM).get(f"{base}/health", timeout=10).status_code == 200


def test_four_large_transfers_at_once_from_one_address(front_stack):
    """What nginx may keep in its temporary folder while a client sends or reads it slowly
    (a large body, a full-size image, a removal's result): 4 at once from one address,
    and its 5th is refused at once, whatever the method; its pages, renditions and small
    bodies still pass, and other addresses are served as usual."""
    base, _, _ = front_stack
    port = int(base.rsplit(":", 1)[1])
    assert nginx_setting("limit_conn heavy_per_client") == "4"
    held = [SlowBody("127.0.0.1", port, HEAVY_FROM, interval=1, pieces=None, reconnect=True)
            for _ in range(4)]
    for client in held:
        client.start()
    try:
        eventually(lambda: all(client.sending.is_set() for client in held))
        heavy = session_from(HEAVY_FROM)
        record = "0123456789abcdef01234567"
        large = {"data": b"x" * 100_000}
        eventually(lambda: heavy.post(f"{base}/", timeout=10, **large).status_code == 429,
                   seconds=30, every=0.5)
        refused = {
            "a large upload": heavy.post(f"{base}/", timeout=10, **large),
            "a large body with another method": heavy.get(f"{base}/health", timeout=10, **large),
            "a body of untold length": heavy.put(f"{base}/update/{record}", timeout=10,
                                                 data=iter([b"x"])),
            "a page's full-size image": heavy.get(f"{base}/images/{record}/processed",
                                                  timeout=10),
            "the API's full-size image": heavy.get(
                f"{base}/api/v1/records/{record}/images/original", timeout=10),
            "a removal by address": heavy.post(f"{base}/api/v1/remove", timeout=10,
                                               json={"image_url": "https://example.com/a"}),
            "remove.bg's removal": heavy.post(f"{base}/v1.0/removebg", timeout=10,
                                              data={"image_url": "https://example.com/a"}),
        }
        assert {what: answer.status_code for what, answer in refused.items()} == {
            what: 429 for what in refused}
        assert refused["a large upload"].headers["Retry-After"] == "5"
        assert refused["the API's full-size image"].json()["error"] == "too_many_requests"
        served = {
            "a page": heavy.get(f"{base}/", timeout=10),
            "a rendition": heavy.get(f"{base}/images/{record}/processed/160", timeout=10),
            "a body under 100 KB": heavy.post(f"{base}/", timeout=10, allow_redirects=False,
                                              data={"name": "x" * 99_000}),
            "another address's upload": session_from(NEIGHBOUR).post(f"{base}/", timeout=10,
                                                                     **large),
        }
        assert {what: answer.status_code for what, answer in served.items()} == {
            "a page": 200, "a rendition": 404, "a body under 100 KB": 302,
            "another address's upload": 400}
    finally:
        for client in held:
            client.stop()
        for client in held:
            client.join(10)


def test_static_files_are_compressed_and_pages_are_not(front_stack):
    base, _, _ = front_stack
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
    log = tmp_path / "front.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(serve.nginx_command(nginx, config, tmp_path), stdout=out,
                                   stderr=subprocess.DEVNULL)
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
        posted = requests.post(f"{base}/api/v1/remove?secret=1", files={"image": b"photo"},
                               timeout=10)
        assert (posted.status_code, posted.json()["error"]) == (502, "app_unavailable")
        # remove.bg's clients read errors[0].title, whatever they accept.
        removebg = requests.post(f"{base}/v1.0/removebg", files={"image_file": b"photo"},
                                 headers={"X-Api-Key": "k" * 16}, timeout=10)
        assert (removebg.status_code, removebg.headers["Retry-After"]) == (502, "10")
        assert removebg.headers["Content-Type"] == "application/json"
        assert removebg.json() == {"errors": [{"title": sentence, "code": "app_unavailable",
                                               "detail": "Server error"}]}

        def logged():
            """the POST's line in the front's log"""
            return [(e["method"], e["path"], e["status"], e["severity"])
                    for e in log_lines(log, "front") if e["path"] == "/api/v1/remove"]

        # As sent, not as the error page's internal redirect made it (GET); an error where
        # Cloud Logging reads a line's level.
        assert eventually(logged) == [("POST", "/api/v1/remove", 502, "ERROR")]
    finally:
        process.send_signal(signal.SIGQUIT)
        assert process.wait(timeout=10) == 0


