"""Upload rate limits shared through a real Redis (Debian's redis-server) by two app
processes, as pods share them with RATELIMIT_STORAGE_URI=redis://; and what happens when
Redis goes away: uploads go on, each process counting for itself.

Without redis-server these tests skip and say why; under CI (`CI` or `REQUIRE_REDIS=1`) a
missing server fails them instead: .ci/run installs it.
"""

import os
import shutil
import subprocess
import time

import pytest
import requests

from tests.servers import BIN, ROOT, clean_env, csrf_token, free_port, start, stop
from tests.support import photo

REQUIRED = os.environ.get("REQUIRE_REDIS") == "1" or bool(os.environ.get("CI"))
LIMIT = 3  # uploads per minute per client address; both servers see 127.0.0.1


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(found):
        reason = "redis-server is not installed (apt-get install redis-server)"
        if REQUIRED:
            pytest.fail(f"{reason}, but the Redis tests must run here (CI / REQUIRE_REDIS=1).")
        pytest.skip(reason)
    return found


class Redis:
    def __init__(self, folder):
        self.binary, self.folder = redis_server_binary(), folder
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ping = subprocess.run([shutil.which("redis-cli") or "redis-cli", "-p",
                                   str(self.port), "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        pytest.fail("redis-server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def two_apps(redis, tmp_path_factory):
    """Two gunicorn processes, as two pods: each its own memory, one Redis."""
    servers = []
    for name in ("a", "b"):
        port = free_port()
        env = clean_env(APP_SECRET_KEY="redis-test-secret-key-0123456789", PORT=str(port),
                        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis.port}/0",
                        UPLOAD_RATE_LIMIT_IP=f"{LIMIT} per minute",
                        UPLOAD_RATE_LIMIT="100 per minute", USER_LIMIT="50")
        folder = tmp_path_factory.mktemp(f"app-{name}")
        servers.append((*start([str(BIN / "gunicorn"), "--config",
                                str(ROOT / "gunicorn.conf.py")], env, port, folder), folder))
    yield [base for _, base, _ in servers], [folder for _, _, folder in servers]
    for process, _, _ in servers:
        stop(process)


def upload(base: str) -> requests.Response:
    session = requests.Session()
    token = csrf_token(session, base)
    return session.post(f"{base}/", data={"name": "n", "csrf_token": token},
                        files={"image": ("p.jpg", photo(size=(64, 48)), "image/jpeg")},
                        headers={"Accept": "application/json"}, timeout=60)


def test_two_processes_share_one_limit(two_apps):
    (a, b), _ = two_apps
    # Alternating servers: with per-process counters each would allow 3 (6 in all).
    answers = [upload(base).status_code for base in (a, b, a, b, a)]
    assert answers == [201, 201, 201, 429, 429]


def test_without_redis_uploads_go_on_counted_per_process(two_apps, redis):
    (a, b), folders = two_apps
    redis.stop()
    try:
        # Each process now counts in its own memory, from zero: the limit holds per process.
        assert [upload(a).status_code for _ in range(LIMIT + 1)] == [201] * LIMIT + [429]
        assert upload(b).status_code == 201
        assert requests.get(f"{a}/", timeout=10).status_code == 200
        log = (folders[0] / "log").read_text()
        assert "falling back to in-memory storage" in log
    finally:
        redis.start()
