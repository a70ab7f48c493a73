"""The app and its repository on a real MongoDB-compatible server: data that outlives the app's
processes, and the database's own.

Needs MONGO_TEST_URI (CI starts FerretDB, see .ci/ferretdb); the outage tests also need
FERRETDB_CTL, FERRETDB_PORT and FERRETDB_DATA to stop and restart that server. Developer
machines without them skip these tests; CI fails if they skip there.
"""

import io
import os
import re
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from PIL import Image
from pymongo import MongoClient

from app.images.outputs import EncodedImage
from app.storage import (
    LimitReached,
    RecordRepository,
    StorageUnavailable,
    open_database,
)
from tests.servers import (
    BIN,
    ROOT,
    clean_env,
    free_port,
    start,
    stop,
    upload_through_the_page,
)
from tests.support import photo

SERVER_URI = os.environ.get("MONGO_TEST_URI", "")
CTL = os.environ.get("FERRETDB_CTL", "")

pytestmark = [pytest.mark.alone, pytest.mark.skipif(
    not SERVER_URI, reason="needs a MongoDB-compatible server: set MONGO_TEST_URI "
                           "(.ci/ferretdb starts one; see docs/testing.md)")]


def uri_with_database(name: str) -> str:
    """MONGO_TEST_URI naming database `name`: the app takes the URI's database first."""
    parts = urlsplit(SERVER_URI)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def database_name():
    """A database of this test's own, dropped afterwards."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    yield name
    with MongoClient(SERVER_URI, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


def gunicorn(database_name, folder, port):
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port),
                    MONGO_URI=uri_with_database(database_name), WEB_CONCURRENCY="2")
    folder.mkdir()
    return start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                 env, port, folder)


def test_an_upload_outlives_the_app_server(database_name, tmp_path):
    process, base = gunicorn(database_name, tmp_path / "first", free_port())
    try:
        assert requests.get(f"{base}/ready", timeout=10).json()["checks"] == {"database": "ok"}
        session = requests.Session()
        data = photo("astronaut", size=(640, 640))
        record_id, page = upload_through_the_page(session, base, data)
        assert "Demo storage" not in page
        png = session.get(f"{base}/images/{record_id}/processed", timeout=10)
        assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
        cutout = Image.open(io.BytesIO(png.content))
        assert cutout.format == "PNG" and cutout.mode == "RGBA" and cutout.size == (640, 640)
    finally:
        stop(process)

    # The record and its files sit in the server, not in the stopped processes' memory:
    # both images, two renditions of each, and the engine's mask.
    with MongoClient(SERVER_URI, serverSelectionTimeoutMS=5000) as client:
        db = client[database_name]
        (doc,) = db.img_converter.find({})
        assert str(doc["_id"]) == record_id and doc["image_name"] == "astronaut"
        assert db["images.files"].count_documents({}) == 2 + 2 * 2 + 1

    # A new server process (new port, same secret) shows the same visitor the same bytes.
    process, base = gunicorn(database_name, tmp_path / "second", free_port())
    try:
        page = session.get(f"{base}/").text
        assert re.findall(r'<tr data-record-id="([0-9a-f]{24})"', page) == [record_id]
        assert session.get(f"{base}/images/{record_id}/processed", timeout=10).content \
            == png.content
        assert session.get(f"{base}/images/{record_id}/original", timeout=10).content == data
    finally:
        stop(process)


# --- the database server itself stops mid-run ------------------------------------------------

needs_control = pytest.mark.skipif(
    not (CTL and os.environ.get("FERRETDB_PORT") and os.environ.get("FERRETDB_DATA")),
    reason="needs control of the server: set FERRETDB_CTL=.ci/ferretdb, FERRETDB_PORT and "
           "FERRETDB_DATA as .ci/run does")


def ctl(*args):
    subprocess.run([CTL, *args], check=True, timeout=60)


def server_runs() -> bool:
    return subprocess.run([CTL, "status", os.environ["FERRETDB_DATA"]],
                          check=False, timeout=10).returncode == 0


@pytest.fixture
def controlled_server():
    """(stop, start) for the server behind MONGO_TEST_URI; it runs again after the test,
    whatever happened, since later tests need it."""
    data, port = os.environ["FERRETDB_DATA"], os.environ["FERRETDB_PORT"]
    assert server_runs(), "the server behind MONGO_TEST_URI is not running"
    try:
        yield (lambda how: ctl(how, data)), (lambda: ctl("start", port, data))
    finally:
        if not server_runs():
            ctl("start", port, data)


class Writer(threading.Thread):
    """Adds records, each for a new visitor, until told to stop; remembers which adds were
    acknowledged and which raised."""

    def __init__(self, repo, tag):
        super().__init__(daemon=True)
        self.repo, self.tag = repo, tag
        self.acked = []  # (record, original bytes, processed bytes)
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            original, processed = os.urandom(2048), os.urandom(4096)
            try:
                record = self.repo.add(f"{self.tag}-{n}", f"r{n}",
                                       EncodedImage(original, "image/jpeg", 4, 3),
                                       EncodedImage(processed, "image/png", 4, 3),
                                       engine="local", limit=1)
            except Exception as exc:  # what an outage raises is the point of the test
                self.errors.append(exc)
            else:
                self.acked.append((record, original, processed))
            # Paced: FerretDB's SQLite backend scans every GridFS chunk to read one file (it
            # cannot push filters on ObjectIds down), so the check afterwards grows with the
            # square of the number of records.
            time.sleep(0.1)

    def wait_for(self, condition, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.is_alive(), "the writer stopped"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)


@needs_control
@pytest.mark.parametrize("how", ["stop", "kill"])  # a clean shutdown, and a crash
def test_acknowledged_records_survive_a_database_restart(database_name, controlled_server, how):
    stop_server, start_server = controlled_server
    # The client the app itself makes, with its timeouts.
    database, embedded = open_database(uri_with_database(database_name), "unused")
    assert not embedded
    repo = RecordRepository(database)
    repo.ensure_indexes()
    writers = [Writer(repo, f"w{i}") for i in range(2)]
    try:
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.wait_for(lambda w=writer: len(w.acked) >= 10, "writes before the stop")

        stop_server(how)
        acked_before = sum(len(w.acked) for w in writers)
        # Down: a write fails with StorageUnavailable, within about the app's 5 s
        # server-selection timeout; it does not hang.
        began = time.monotonic()
        with pytest.raises(StorageUnavailable):
            repo.add("while-down", "x", EncodedImage(b"o", "image/jpeg", 1, 1),
                     EncodedImage(b"p", "image/png", 1, 1), engine="local", limit=1)
        assert time.monotonic() - began < 15
        for writer in writers:
            writer.wait_for(lambda w=writer: w.errors, "the writer to see the outage")

        start_server()
        restarted = time.monotonic()
        # The same client, untouched, works again by itself.
        counts = [len(w.acked) for w in writers]
        for writer, count in zip(writers, counts, strict=True):
            writer.wait_for(lambda w=writer, c=count: len(w.acked) >= c + 5,
                            "writes after the restart", timeout=30)
        recovery = time.monotonic() - restarted
    finally:
        for writer in writers:
            writer.halt.set()
        for writer in writers:
            writer.join(timeout=30)

    acked = [entry for writer in writers for entry in writer.acked]
    missing = []
    for record, original, processed in acked:
        try:
            got = repo.get(record.user_id, record.id)
            if (repo.read(got, "original"), repo.read(got, "processed")) != (original, processed):
                missing.append((record.id, "different bytes"))
        except Exception as exc:
            missing.append((record.id, repr(exc)))
    print(f"{how}: {len(acked)} acknowledged records ({acked_before} before the {how}), "
          f"{len(missing)} missing; writes resumed {recovery:.1f} s after the restart")
    assert acked_before >= 20
    assert missing == []
    # The unique index that enforces the per-visitor limit came back with the data.
    with pytest.raises(LimitReached):
        repo.add(acked[0][0].user_id, "again", EncodedImage(b"o", "image/jpeg", 1, 1),
                 EncodedImage(b"p", "image/png", 1, 1), engine="local", limit=1)
    database.client.close()
