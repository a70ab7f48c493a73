"""Real HTTP through real servers on loopback: gunicorn as the container runs it, and
`flask run` as `make run` does. The local model does the work; nothing is faked."""

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support import photo

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict:
    """The environment of a fresh machine: none of the app's settings, no `.env` read
    (the servers run in an empty folder and Flask's own .env loading is off)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGO_URI", "X_RAPID_API_KEY", "BG_ENGINE", "APP_SECRET_KEY", "APP_ENV")}
    env.update(PYTHONPATH=str(ROOT), FLASK_SKIP_DOTENV="1", **extra)
    return env


def start(command, env, port, folder):
    log_path = folder / "log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{Path(log_path).read_text()}")
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        # gunicorn opens its socket before the worker has loaded the model: connections wait
        # in the backlog, so a slow start shows as a read timeout, not a refused connection.
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    process.terminate()
    pytest.fail(f"server did not start:\n{Path(log_path).read_text()}")


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port))
    process, base = start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                          env, port, tmp_path_factory.mktemp("gunicorn"))
    yield base
    stop(process)


def csrf_token(session, base):
    html = session.get(f"{base}/").text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def upload_through_the_page(session, base, data: bytes, name: str = "astronaut"):
    """Post the page's form over HTTP as a browser does; return the new record's id and
    the page shown after the redirect."""
    token = csrf_token(session, base)
    response = session.post(f"{base}/", data={"name": name, "csrf_token": token},
                            files={"image": (f"{name}.jpg", data, "image/jpeg")},
                            allow_redirects=False, timeout=120)
    assert response.status_code == 302
    page = session.get(f"{base}/").text
    assert "Image generated successfully" in page
    (record_id,) = re.findall(r'<tr data-record-id="([0-9a-f]{24})"', page)
    return record_id, page


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
