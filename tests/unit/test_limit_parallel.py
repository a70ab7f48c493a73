"""USER_LIMIT holds when one visitor's uploads arrive at the same moment."""

import io
import threading

from app import create_app
from app.images.thumbnails import SIZES
from tests.support import FakeEngine, Visitor, photo, use_engine

RACERS = 6


def test_parallel_uploads_through_the_app_store_at_most_the_limit(settings):
    """Every upload is held in the engine until all six are there, so all six have passed
    the early count check before any is stored: only the database's unique slot index can
    keep the limit."""
    app = create_app(settings.changed(engine_concurrency=RACERS))
    engine = use_engine(app, FakeEngine(barrier=threading.Barrier(RACERS)))
    records = app.extensions["services"].records
    visitor = Visitor(app.test_client())
    visitor.page()
    cookies = {c.key: c.value for c in visitor.client._cookies.values()}
    statuses, lock = [], threading.Lock()

    def upload(n):
        client = app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value)
        response = client.post("/", data={"name": f"p{n}", "csrf_token": visitor.token,
                                          "image": (io.BytesIO(photo()), "p.jpg")},
                               headers={"Accept": "application/json"})
        with lock:
            statuses.append((response.status_code, response.get_json().get("error")))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert engine.calls == RACERS  # all six really raced
    assert sorted(statuses) == [(201, None)] * 2 + [(409, "limit_reached")] * (RACERS - 2)
    assert records.count(visitor.id()) == 2
    # Each stored record: its two images, two renditions of each and the engine's mask;
    # nothing else was kept.
    assert len(list(records.files.find({}))) == 2 * (2 + 2 * len(SIZES) + 1)
