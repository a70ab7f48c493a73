"""MongoDB unreachable: liveness stays up, readiness and pages say so, nothing is lost,
and the app recovers by itself when the database is back."""

import contextlib
import os
import socket
import threading
import time

import pytest

from app import create_app
from app.storage.outages import COOL_OFF
from tests.servers import closed_port
from tests.support import FakeEngine, Visitor, photo, use_engine

pytestmark = pytest.mark.alone

MESSAGE = ("The database is unavailable right now, so nothing was changed. "
           "Please try again in a minute.")


@pytest.fixture
def down_app(settings, caplog):
    app = create_app(settings.changed(mongo_uri=f"mongodb://127.0.0.1:{closed_port()}/",
                             mongo_timeout_ms=300))
    use_engine(app, FakeEngine())
    return app


def test_the_app_starts_while_the_database_is_down(down_app, caplog):
    messages = [r.getMessage() for r in caplog.get_records("setup")]
    assert any("The database is unreachable at start-up" in m for m in messages)


def test_liveness_stays_up_and_readiness_says_why(down_app):
    client = down_app.test_client()
    assert client.get("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"] == {"database": "unavailable"}


def test_the_page_is_a_clear_503(down_app):
    response = down_app.test_client().get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    html = response.get_data(as_text=True)
    assert MESSAGE in html and "Traceback" not in html


def test_uploads_are_refused_before_any_engine_work(down_app):
    visitor = Visitor(down_app.test_client())
    response = visitor.upload(photo())
    assert response.status_code == 503
    assert MESSAGE in response.get_data(as_text=True)
    json = visitor.upload(photo(), headers={"Accept": "application/json"})
    assert json.status_code == 503
    assert json.get_json() == {"error": "storage_unavailable", "message": MESSAGE}
    assert down_app.extensions["services"].engines.primary.calls == 0


def test_rename_delete_and_images_answer_503_json_or_page(down_app):
    visitor = Visitor(down_app.test_client())
    record_id = "6b0ae7287c127ecec3c4cab5"
    for response in (visitor.rename(record_id, {"record_name": "x"}),
                     visitor.delete(record_id)):
        assert response.status_code == 503
        assert response.get_json()["error"] == "storage_unavailable"
    image = visitor.client.get(f"/images/{record_id}/processed")
    assert image.status_code == 503


class FlakyProxy:
    """A TCP proxy on loopback in front of a real server, that can drop the database off
    the network and bring it back, as an outage does."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            server = socket.create_connection(self.target)
            self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def down(self):
        self.up.clear()
        for sock in self.connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.connections.clear()

    def restore(self):
        self.up.set()

    def close(self):
        self.down()
        self.listener.close()


@pytest.mark.skipif(not os.environ.get("MONGO_TEST_URI"),
                    reason="needs a real MongoDB-compatible server: set MONGO_TEST_URI")
def test_outage_and_recovery_against_a_real_server(settings):
    from urllib.parse import urlparse

    from pymongo import MongoClient

    target = urlparse(os.environ["MONGO_TEST_URI"])
    proxy = FlakyProxy((target.hostname, target.port or 27017))
    db_name = f"outage_{proxy.port}"
    app = create_app(settings.changed(mongo_uri=f"mongodb://127.0.0.1:{proxy.port}/",
                             mongo_db=db_name, mongo_timeout_ms=1500, user_limit=10))
    use_engine(app, FakeEngine())
    visitor = Visitor(app.test_client())
    try:
        acknowledged = []
        for n in range(3):
            response = visitor.upload(photo(), name=f"before-{n}",
                                      headers={"Accept": "application/json"})
            assert response.status_code == 201
            acknowledged.append(response.get_json()["id"])

        proxy.down()
        assert visitor.client.get("/ready").status_code == 503
        assert visitor.client.get("/").status_code == 503
        refused = visitor.upload(photo(), name="during", headers={"Accept": "application/json"})
        assert refused.status_code == 503

        proxy.restore()
        # No restart needed: asked again once the outage's cool-off has passed.
        deadline = time.monotonic() + COOL_OFF + 10
        while visitor.client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.25)
        after = visitor.upload(photo(), name="after", headers={"Accept": "application/json"})
        assert after.status_code == 201
        names = sorted(r.image_name for r in app.extensions["services"].records.list(visitor.id()))
        assert names == ["after", "before-0", "before-1", "before-2"]
        for record_id in acknowledged:
            assert visitor.client.get(f"/images/{record_id}/processed").status_code == 200
    finally:
        proxy.close()
        MongoClient(os.environ["MONGO_TEST_URI"]).drop_database(db_name)


def test_the_api_answers_503_json_with_its_documented_code(down_app):
    client = down_app.test_client()
    for response in (client.get("/api/v1/records"), client.get("/api/v1/session"),
                     client.get("/api/v1/records/6b0ae7287c127ecec3c4cab5")):
        assert response.status_code == 503
        assert response.get_json() == {"error": "storage_unavailable", "message": MESSAGE}
        assert response.headers["Retry-After"] == "30"
    document = client.get("/api/v1/openapi.json").get_json()
    listed = document["paths"]["/records"]["get"]["responses"]["503"]
    codes = [code for part in listed["content"]["application/json"]["schema"]["allOf"]
             for code in part.get("properties", {}).get("error", {}).get("enum", ())]
    assert "storage_unavailable" in codes
