"""Real servers on loopback for the system tests: start, wait until healthy, stop; and the
page's form posted over HTTP as a browser does."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from scripts import serve
from tests.processes import cpu_seconds, workers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


free_port = serve.free_port


def closed_port() -> int:
    """A port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket closes


def clean_env(**extra) -> dict:
    """The environment of a fresh machine: none of the app's settings, no `.env` read
    (the servers run in an empty folder and Flask's own .env loading is off)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MONGO_URI", "X_RAPID_API_KEY", "BG_ENGINE", "APP_SECRET_KEY", "APP_ENV")}
    env.update(PYTHONPATH=str(ROOT), FLASK_SKIP_DOTENV="1", **extra)
    return env


def start(command, env, port, folder, seconds: float = 60):
    log_path = folder / "log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
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
    """SIGTERM, and time to finish: `make serve` stops its front, then gunicorn, each
    within its own limit (scripts/serve.py); killed sooner, it would leave them running."""
    process.terminate()
    try:
        process.wait(timeout=2 * serve.stop_seconds() + 10)
    except subprocess.TimeoutExpired:
        process.kill()


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


def eventually(check, seconds: float = 10.0, every: float = 0.05):
    """`check()`'s first true result, asked again until `seconds` have passed: for what a
    server does soon but not at once (a log line written as a request ends, a socket
    closed, a connection counted). Fails the test if it never comes."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {seconds} s: {check.__doc__ or check}")
        time.sleep(every)


class UploadInFlight:
    """The page's form posted with `data` (a big photo) from a thread, asking for JSON, as
    a rolling update finds it: once started, the server has the whole body and a worker of
    gunicorn `master` is making the result. Then stop the server and `finished()`."""

    def __init__(self, session, base: str, master: int, data: bytes, name: str = "inflight"):
        from urllib3 import encode_multipart_formdata

        body, content_type = encode_multipart_formdata(
            {"name": name, "csrf_token": csrf_token(session, base),
             "image": (f"{name}.jpg", data, "image/jpeg")})
        sent, self.result = threading.Event(), {}

        def chunks():
            for i in range(0, len(body), 64 * 1024):
                yield body[i:i + 64 * 1024]
            sent.set()  # the whole body is with the server: the request is in flight

        def post():
            try:
                self.result["response"] = session.post(
                    f"{base}/", data=chunks(), allow_redirects=False, timeout=120,
                    headers={"Content-Type": content_type, "Accept": "application/json"})
            except requests.RequestException as exc:  # the server dropped the upload
                self.result["error"] = exc

        pids = workers(master)
        cpu_before = cpu_seconds(pids)
        self.client = threading.Thread(target=post)
        self.client.start()
        assert sent.wait(60)
        # A sent body may still sit in buffers (the socket's, or the front's until it has
        # all of it); half a second of worker CPU means a worker has it and is decoding the
        # photo (several seconds of CPU for the photos these tests send).
        while cpu_seconds(pids) - cpu_before < 0.5 and self.client.is_alive():
            time.sleep(0.05)
        assert self.client.is_alive(), self.result  # else a stop would find nothing in flight

    def finished(self) -> requests.Response:
        """The upload's answer, once the stopped server has given it."""
        self.client.join(120)
        assert "error" not in self.result, self.result.get("error")
        return self.result["response"]
