"""API keys end to end: real HTTP into gunicorn with the local model; keys from API_KEYS, and
(with MONGO_TEST_URI) keys made and revoked by `flask keys` in another process, as an
operator would, against the same database the server reads."""

import io
import os
import subprocess
import time
import uuid

import pytest
import requests
from PIL import Image

from app.http.limits import RATE_HEADERS
from tests.servers import BIN, ROOT, clean_env, free_port, start, stop
from tests.support import photo

GIVEN = "live-given-key-0123456789"


def _gunicorn(tmp_path_factory, **settings):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port),
                    **settings)
    return start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")], env,
                 port, tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base = _gunicorn(tmp_path_factory, API_KEYS=f"bot:{GIVEN}",
                              API_REQUIRE_KEY="true")
    yield base
    stop(process)


def test_a_program_with_a_key_removes_a_background_in_one_call(server):
    data = photo("astronaut", size=(400, 300))
    answer = requests.post(f"{server}/api/v1/remove", files={"image": ("a.jpg", data)},
                           headers={"Authorization": f"Bearer {GIVEN}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert "Set-Cookie" not in answer.headers
    result = Image.open(io.BytesIO(answer.content))
    assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (400, 300))
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == ("400", "300")
    limit, left, reset = (int(answer.headers[name]) for name in RATE_HEADERS)
    assert (limit, 0 <= left < 60) == (60, True)  # API_KEYS' keys have the default 60
    assert time.time() < reset <= time.time() + 61  # this call's count goes within a minute
    looked = requests.get(f"{server}/api/v1/account", headers={"X-Api-Key": GIVEN},
                          timeout=10)
    account = looked.json()
    assert account["name"] == "bot" and account["today"]["calls"] >= 1
    # Looking costs nothing: what is left is as the call left it (or more, a minute on).
    assert int(looked.headers["X-RateLimit-Remaining"]) >= left


def test_without_a_key_or_with_a_wrong_one_nothing_is_done(server):
    missing = requests.post(f"{server}/api/v1/remove",
                            files={"image": ("a.jpg", photo(size=(64, 64)))}, timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (401, "missing_key")
    wrong = requests.get(f"{server}/api/v1/records", headers={"X-Api-Key": GIVEN + "x"},
                         timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_key")
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(f"{server}/api/v1/openapi.json", timeout=10).status_code == 200
    assert requests.get(f"{server}/", timeout=10).status_code == 200  # the page is open


@pytest.fixture(scope="module")
def database():
    uri = os.environ.get("MONGO_TEST_URI")
    if not uri:
        pytest.skip("needs MONGO_TEST_URI (CI starts FerretDB)")
    return {"MONGO_URI": uri, "MONGO_DB": f"keys_{uuid.uuid4().hex[:8]}"}


def _keys(database, *args) -> subprocess.CompletedProcess:
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", **database)
    return subprocess.run([str(BIN / "flask"), "--app", "app", "keys", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_an_operators_key_works_on_the_server_until_revoked(database, tmp_path_factory):
    made = _keys(database, "create", "shop", "--per-minute", "30")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("ibp_") and "shop" in made.stderr
    process, base = _gunicorn(tmp_path_factory, **database)
    try:
        headers = {"X-Api-Key": key}
        created = requests.post(f"{base}/api/v1/records", headers=headers, timeout=60,
                                files={"image": ("a.jpg", photo(size=(320, 240)))},
                                data={"name": "from a program"})
        assert created.status_code == 201, created.text
        listed = _keys(database, "list")
        row = next(line.split() for line in listed.stdout.splitlines()
                   if line.startswith("shop "))
        assert row[1] == key[:12] + "…" and row[2] == "30" and row[-2:] == ["1", "0.077"]
        assert key not in listed.stdout
        assert _keys(database, "revoke", "shop").returncode == 0
        refused = requests.get(f"{base}/api/v1/records", headers=headers, timeout=10)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_key")
    finally:
        stop(process)
