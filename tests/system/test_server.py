"""Real HTTP through real servers on loopback: gunicorn as the container runs it, and
`flask run` as `make run` does. The local model does the work; nothing is faked."""

import http.client
import io
import json
import os
import socket

import numpy as np
import pytest
import requests
from PIL import Image

from tests.servers import (
    BIN,
    ROOT,
    clean_env,
    csrf_token,
    free_port,
    start,
    stop,
    upload_through_the_page,
)
from tests.support import photo

pytestmark = pytest.mark.alone


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port))
    process, base = start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                          env, port, tmp_path_factory.mktemp("gunicorn"))
    yield base
    stop(process)


def test_upload_a_photo_and_fetch_the_processed_png(gunicorn_server):
    base = gunicorn_server
    session = requests.Session()
    data = photo("astronaut", size=(1024, 1024))  # about 1 MP
    record_id, _ = upload_through_the_page(session, base, data)

    png = session.get(f"{base}/images/{record_id}/processed", timeout=10)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(png.content))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (1024, 1024)
    alpha = np.asarray(img.getchannel("A"))
    assert alpha[0, 0] < 16 and alpha[512, 512] > 240

    original = session.get(f"{base}/images/{record_id}/original", timeout=10)
    assert original.content == data

    # A stranger on the same server sees none of it.
    stranger = requests.Session()
    assert stranger.get(f"{base}/images/{record_id}/processed").status_code == 404


def test_an_oversized_upload_over_real_http_gets_the_message(gunicorn_server):
    base = gunicorn_server
    session = requests.Session()
    token = csrf_token(session, base)
    blob = os.urandom(16 * 1024 * 1024)
    response = session.post(f"{base}/", data={"name": "big", "csrf_token": token},
                            files={"image": ("big.jpg", blob, "image/jpeg")},
                            allow_redirects=False, timeout=60)
    assert response.status_code == 302
    assert "The file is too large" in session.get(f"{base}/").text


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def test_a_body_the_app_does_not_read_is_read_before_the_next_request(gunicorn_server):
    """The app answers 413 from the Content-Length alone. gunicorn would then read 64 KB of
    the body and close with the rest unread, which resets the connection: the client (or
    the front, still sending) loses the answer. gunicorn.conf.py's post_request reads the
    rest, so the whole body goes in, the answer comes back, and the connection serves the
    next request."""
    port = int(gunicorn_server.rsplit(":", 1)[1])
    body = b"x" * (16 * 1024 * 1024)
    head = (f"POST / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)  # a reset before the end raises here
        status, answer = _answer(sock)
        assert status == 413
        assert json.loads(answer)["error"] == "too_large"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert _answer(sock) == (200, b'{"status":"Healthy"}\n')


def test_flask_run_serves_the_app_with_no_configuration(tmp_path):
    """What `make run` starts: development mode, embedded store, local engine."""
    port = free_port()
    env = clean_env(APP_ENV="development")
    process, base = start([str(BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1",
                           "--port", str(port)], env, port, tmp_path)
    try:
        page = requests.get(f"{base}/", timeout=10).text
        assert "Demo storage" in page
    finally:
        stop(process)
    assert "using a temporary key" in (tmp_path / "log").read_text()


@pytest.mark.parametrize("method, path, field", [
    ("put", "/update/6b0ae7287c127ecec3c4cab5", "record_name"),
    ("patch", "/api/v1/records/6b0ae7287c127ecec3c4cab5", "image_name")])
def test_a_refused_big_body_leaves_the_connection_usable(gunicorn_server, method, path, field):
    """A 2 MB JSON body is refused (413) without being parsed; it is still read to its end (the
    post_request hook in gunicorn.conf.py), so the next request on the same keep-alive
    connection gets its own answer: gunicorn closes a connection holding a big unread body
    without saying so."""
    base = gunicorn_server
    session = requests.Session()
    token = csrf_token(session, base)
    # Without the fix the next request failed most of the time, not always: a few rounds.
    for size in (20_000, 2_000_000, 2_000_000, 4_000_000, 2_000_000):
        body = b'{"' + field.encode() + b'": "' + b"x" * size + b'"}'
        refused = getattr(session, method)(f"{base}{path}", data=body, timeout=30,
                                           headers={"Content-Type": "application/json",
                                                    "X-CSRFToken": token})
        assert refused.status_code == 413 and refused.json()["error"] == "too_large"
        assert session.get(f"{base}/health", timeout=10).status_code == 200
