"""USER_LIMIT holds when one visitor's uploads arrive at the same moment."""

import io
import threading

from app import create_app
from app.images.thumbnails import SIZES
from tests.support import FakeEngine, Visitor, photo, use_engine

RACERS = 6


def test_parallel_uploads_past_the_limit_are_refused_before_their_work(settings):
    """Six uploads at once with room for two: the two that hold a slot are kept in the
    engine until the other four have been answered, so those four have passed the early
    count check together with them; each was refused 409 without the engine running for it
    (the slot a running upload holds counts)."""
    app = create_app(settings.changed(engine_concurrency=RACERS))
    gate = threading.Event()
    engine = use_engine(app, FakeEngine(gate=gate))
    records = app.extensions["services"].records
    visitor = Visitor(app.test_client())
    visitor.page()
    cookies = {c.key: c.value for c in visitor.client._cookies.values()}
    statuses, lock, refused = [], threading.Lock(), threading.Semaphore(0)

    def upload(n):
        client = app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value)
        response = client.post("/", data={"name": f"p{n}", "csrf_token": visitor.token,
                                          "image": (io.BytesIO(photo()), "p.jpg")},
                               headers={"Accept": "application/json"})
        with lock:
            statuses.append((response.status_code, response.get_json().get("error")))
        if response.status_code == 409:
            refused.release()

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for _ in range(RACERS - 2):
        assert refused.acquire(timeout=30)
    assert engine.calls <= 2  # the refused four never reached it
    gate.set()
    for t in threads:
        t.join(60)

    assert engine.calls == 2
    assert sorted(statuses) == [(201, None)] * 2 + [(409, "limit_reached")] * (RACERS - 2)
    assert records.count(visitor.id()) == 2
    # Each stored record: its two images, two renditions of each and the engine's mask;
    # nothing else was kept, and no slot is left held.
    assert len(list(records.files.find({}))) == 2 * (2 + 2 * len(SIZES) + 1)
    assert records.records.count_documents({"reserved_until": {"$exists": True}}) == 0
