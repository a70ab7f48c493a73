"""USER_LIMIT holds when one visitor's uploads arrive at the same moment."""

import io
import threading

from tests.support import photo


def test_parallel_uploads_through_the_app_store_at_most_the_limit(app, visitor, fake_engine,
                                                                  records):
    # The stand-in engine is slow, so every upload passes the early count check before any
    # is stored: only the database's unique slot index can keep the limit.
    fake_engine.delay = 0.3
    visitor.page()
    cookies = {c.key: c.value for c in visitor.client._cookies.values()}
    statuses, lock = [], threading.Lock()
    start = threading.Barrier(6)

    def upload(n):
        client = app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value)
        start.wait()
        response = client.post("/", data={"name": f"p{n}", "csrf_token": visitor.token,
                                          "image": (io.BytesIO(photo()), "p.jpg")},
                               headers={"Accept": "application/json"})
        with lock:
            statuses.append((response.status_code, response.get_json().get("error")))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert fake_engine.calls == 6  # all six really raced
    assert sorted(statuses) == [(201, None)] * 2 + [(409, "limit_reached")] * 4
    assert records.count(visitor.id()) == 2
    assert len(list(records.files.find({}))) == 4
