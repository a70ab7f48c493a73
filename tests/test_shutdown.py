"""SIGTERM (a rolling update, a scale-down) while an upload is on the wire: gunicorn lets
that request finish; the record is whole or absent, never half-written."""

import os
import re
import signal
import threading

import requests

from tests.support import photo
from tests.test_server import BIN, ROOT, clean_env, csrf_token, free_port, start


def test_sigterm_lets_an_upload_in_flight_finish(tmp_path):
    port = free_port()
    env = clean_env(APP_SECRET_KEY="live-test-secret-key-0123456789", PORT=str(port))
    if os.environ.get("MONGO_TEST_URI"):
        env.update(MONGO_URI=os.environ["MONGO_TEST_URI"], MONGO_DB=f"shutdown_{port}")
    process, base = start([str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")],
                          env, port, tmp_path)
    try:
        session = requests.Session()
        token = csrf_token(session, base)
        prepared = session.prepare_request(requests.Request(
            "POST", f"{base}/", data={"name": "in flight", "csrf_token": token},
            files={"image": ("p.jpg", photo("astronaut", size=(1024, 1024)), "image/jpeg")},
            headers={"Accept": "application/json"}))
        body = prepared.body
        half_sent, go_on = threading.Event(), threading.Event()

        def slow_body():
            """The first half, then a pause while the server is told to stop."""
            yield body[: len(body) // 2]
            half_sent.set()
            go_on.wait(10)
            yield body[len(body) // 2:]

        prepared.body = slow_body()
        prepared.headers.pop("Content-Length", None)
        prepared.headers["Transfer-Encoding"] = "chunked"
        result = {}
        sender = threading.Thread(target=lambda: result.update(
            response=session.send(prepared, timeout=60)))
        sender.start()
        assert half_sent.wait(10)
        process.send_signal(signal.SIGTERM)
        go_on.set()
        sender.join(60)

        response = result["response"]
        assert response.status_code == 201, response.text
        record = response.json()
        assert record["image_name"] == "in flight"
        assert process.wait(timeout=40) == 0  # a clean exit, within the graceful timeout
        assert re.search(r"Handling signal: term", (tmp_path / "log").read_text())
        if os.environ.get("MONGO_TEST_URI"):
            # What the server acknowledged is in the database, bytes and all.
            from app.storage import RecordRepository, open_database

            database, _ = open_database(os.environ["MONGO_TEST_URI"], f"shutdown_{port}")
            repo = RecordRepository(database)
            (stored,) = repo.records.find({})
            kept = repo.get(stored["user_id"], record["id"])
            for kind in ("original", "processed"):
                assert len(repo.read(kept, kind)) == kept.image(kind).size
    finally:
        if process.poll() is None:
            process.kill()
        if os.environ.get("MONGO_TEST_URI"):
            from pymongo import MongoClient

            MongoClient(os.environ["MONGO_TEST_URI"]).drop_database(f"shutdown_{port}")
