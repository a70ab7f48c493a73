"""Uploads that cannot start soon are refused at once with 503, Retry-After and a sentence;
the page keeps answering meanwhile. Threads are held and released with events."""

import io
import threading

import pytest

from app import create_app
from tests.support import FakeEngine, Visitor, photo, use_engine

BUSY = ("Too many photos are being processed right now, so this one was not started. "
        "Please try again in 1 second.")


@pytest.fixture
def busy_app(settings):
    """One work slot and no wait allowed, its one slot taken by a held upload."""
    app = create_app(settings.changed(engine_concurrency=1, upload_queue_seconds=0,
                                      user_limit=10))
    gate = threading.Event()
    engine = use_engine(app, FakeEngine(gate=gate))
    holder = Visitor(app.test_client())
    holder.ensure_token()
    thread = threading.Thread(target=holder.upload, args=(photo(),))
    thread.start()
    while engine.calls == 0 and thread.is_alive():
        gate.wait(0.01)
    yield app
    gate.set()
    thread.join(30)


def test_the_api_answers_503_with_retry_after_at_once(busy_app):
    client = busy_app.test_client()
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    response = client.post("/api/v1/records", headers={"X-CSRFToken": token},
                           data={"name": "n", "image": (io.BytesIO(photo()), "p.jpg")})
    assert response.status_code == 503
    assert response.get_json() == {"error": "busy", "message": BUSY}
    assert response.headers["Retry-After"] == "1"


def test_the_page_flashes_it_and_stores_nothing(busy_app):
    visitor = Visitor(busy_app.test_client())
    response = visitor.upload(photo())
    assert response.status_code == 302
    assert visitor.flashes() == [("danger", BUSY)]
    assert visitor.record_ids() == []


def test_health_pages_and_downloads_are_served_while_every_slot_is_busy(busy_app):
    client = busy_app.test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert client.get("/").status_code == 200


def test_the_outcome_is_counted(busy_app):
    visitor = Visitor(busy_app.test_client())
    visitor.upload(photo())
    metrics = visitor.client.get("/metrics").get_data(as_text=True)
    assert 'ibp_uploads_total{outcome="busy"}' in metrics
    assert "ibp_uploads_waiting" in metrics
