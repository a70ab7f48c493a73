"""A bounded number of fetches by address at once per process; past it, busy at once with
the time until the oldest fetch in flight must have ended. Threads are held with events."""

import io
import threading

import pytest

from app.core.errors import Rejected
from app.core.fetching import gate as module
from app.core.fetching.gate import FetchGate


class Clock:
    def __init__(self, now: float):
        self.now = now

    def monotonic(self) -> float:
        return self.now


class Silent:
    """A fetch that stays in flight until `release` is set (only for addresses with `held`
    in them, when given): the addresses asked for, in order, and `entered()` to wait until
    the next one is in flight."""

    def __init__(self, held: str = "", answer: bytes = b"photo"):
        self.release, self._inside, self.calls = threading.Event(), threading.Semaphore(0), []
        self.held, self.answer = held, answer

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.held in url:
            self._inside.release()
            self.release.wait(30)
        return self.answer

    def entered(self) -> None:
        assert self._inside.acquire(timeout=10)

    def in_flight(self, call) -> threading.Thread:
        """`call` on a thread of its own, returned once its fetch is in flight."""
        thread = threading.Thread(target=call)
        thread.start()
        self.entered()
        return thread


def test_fetches_past_the_bound_are_busy_at_once_with_the_time_to_retry(monkeypatch):
    clock = Clock(1000.0)
    monkeypatch.setattr(module, "time", clock)
    silent = Silent()
    gate = FetchGate(silent, slots=2, deadline=15)
    results = []
    first = silent.in_flight(lambda: results.append(gate("a")))
    clock.now = 1004.5  # the second starts 4.5 s after the first
    second = silent.in_flight(lambda: results.append(gate("b")))
    clock.now = 1006.2
    with pytest.raises(Rejected) as refused:
        gate("c")
    # The first fetch in flight must end by 1015: 8.8 s from now, said as 9.
    assert (refused.value.code, refused.value.kind, refused.value.retry_after) == (
        "busy", "busy", 9)
    assert silent.calls == ["a", "b"]  # the third was never started
    silent.release.set()
    first.join(10)
    second.join(10)
    assert results == [b"photo", b"photo"]
    assert gate("d") == b"photo"  # both slots free again


@pytest.mark.parametrize("holder", [None, "ip:10.0.0.1"])
def test_a_failed_fetch_gives_its_slot_and_its_clients_turn_back(holder):
    def failing(url):
        raise Rejected("url_failed", "The address answered 404 Not Found.")

    gate = FetchGate(failing, slots=2, deadline=15)
    for _ in range(3):
        with pytest.raises(Rejected) as refused:
            gate("x", holder)
        assert refused.value.code == "url_failed"
    assert gate._held == {}  # nothing is kept of a client with no fetch in flight


def test_a_fetch_takes_a_place_in_the_admissions_line():
    """Fetches and uploads waiting for a turn share UPLOAD_QUEUE's places: with one place,
    a fetch in flight turns the next fetch (or a waiting upload) away at once."""
    from app.engines import Admission, Busy, Work

    line = Admission(slots=1, max_waiting=1, max_wait=60)
    silent = Silent()
    gate = FetchGate(silent, slots=2, deadline=15, place=line.place)
    first = silent.in_flight(lambda: gate("a"))
    with pytest.raises(Rejected) as refused:
        gate("b")  # a fetch slot is free, but no place in line is
    assert refused.value.code == "busy"
    # The engine's slot is free, so one upload starts at once; but none may wait.
    with line.admitted(Work(0)), pytest.raises(Busy), line.admitted(Work(0)):
        pass
    silent.release.set()
    first.join(10)
    assert gate("c") == b"photo"


def test_a_fetch_with_no_place_in_line_gives_its_clients_turn_back():
    from app.engines import Admission

    line = Admission(slots=1, max_waiting=1, max_wait=60)
    silent = Silent()
    gate = FetchGate(silent, slots=4, deadline=15, place=line.place)
    first = silent.in_flight(lambda: gate("a", "ip:10.0.0.1"))
    for _ in range(3):  # the line's one place is the first fetch's
        with pytest.raises(Rejected) as refused:
            gate("b", "ip:10.0.0.2")
        assert refused.value.code == "busy"
    assert list(gate._held) == ["ip:10.0.0.1"]
    silent.release.set()
    first.join(10)
    assert gate("c", "ip:10.0.0.2") == b"photo" and gate._held == {}


def test_one_client_has_one_fetch_at_a_time(monkeypatch):
    clock = Clock(1000.0)
    monkeypatch.setattr(module, "time", clock)
    silent = Silent()
    gate = FetchGate(silent, slots=4, deadline=15)
    held = [silent.in_flight(lambda: gate("a1", "ip:10.0.0.1"))]
    clock.now = 1005.5
    with pytest.raises(Rejected) as refused:
        gate("a2", "ip:10.0.0.1")  # one over
    # Its fetch must end by 1015: 9.5 s from now, said as 10.
    assert (refused.value.code, refused.value.kind, refused.value.retry_after,
            refused.value.message) == (
        "rate_limited", "quota", 10, "Photos by address are fetched one at a time for each "
                                     "network or API key, and one from yours is being fetched "
                                     "now. Please try again in 10 seconds.")
    # Other clients, and the operator's own work, still find the slots the first left.
    held += [silent.in_flight(lambda: gate("b1", "key:tester")),
             silent.in_flight(lambda: gate("c1", "ip:10.0.0.2")),
             silent.in_flight(lambda: gate("d1"))]
    with pytest.raises(Rejected) as full:
        gate("e1", "ip:10.0.0.3")
    assert full.value.code == "busy"  # every slot is taken now, whoever asks
    assert silent.calls == ["a1", "b1", "c1", "d1"]  # nothing refused was started
    silent.release.set()
    for thread in held:
        thread.join(10)
    assert gate("a3", "ip:10.0.0.1") == b"photo"  # its fetch ended, its turn is free
    assert gate._held == {}


@pytest.mark.parametrize("slots, code, message", [
    (1, "busy", "Too many photos are being processed right now, so this one was not started. "
                "Please try again in 15 seconds."),
    (2, "rate_limited", "Photos by address are fetched one at a time for each network or API "
                        "key, and one from yours is being fetched now. Please try again in 15 "
                        "seconds.")])
def test_with_one_slot_the_bound_answers_first(monkeypatch, slots, code, message):
    monkeypatch.setattr(module, "time", Clock(1000.0))
    silent = Silent()
    gate = FetchGate(silent, slots=slots, deadline=15)
    thread = silent.in_flight(lambda: gate("a", "ip:10.0.0.1"))
    with pytest.raises(Rejected) as refused:
        gate("b", "ip:10.0.0.1")
    assert (refused.value.code, refused.value.message) == (code, message)
    silent.release.set()
    thread.join(10)


KEY = "fetch-gate-key-0123456"
HELD_ONE = ("Photos by address are fetched one at a time for each network or API key, and one "
            "from yours is being fetched now. Please try again in 15 seconds.")


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"tester:{KEY}")


def _from(app, address):
    made = app.test_client()
    made.environ_base["REMOTE_ADDR"] = address
    return made


def test_every_door_holds_a_client_to_one_fetch(app, fake_engine, monkeypatch):
    """Through the app's own gate (URL_FETCH_CONCURRENCY 2): while one visitor's
    photo by address is in flight, the same network is refused at each door, as another
    cookie too; another network and an API key from the same network are served."""
    from tests.support import ApiClient, Visitor, photo

    monkeypatch.setattr(module, "time", Clock(1000.0))
    silent = app.extensions["services"].uploads.fetch._fetch = Silent("slow", photo())

    first = ApiClient(_from(app, "10.0.0.1"))
    answers = []
    thread = silent.in_flight(lambda: answers.append(first.http.post(
        "/api/v1/records", json={"name": "slow", "image_url": "https://a.example/slow.jpg"},
        headers=first.headers())))
    try:
        url = "https://a.example/cat.jpg"
        script, page = ApiClient(_from(app, "10.0.0.1")), Visitor(_from(app, "10.0.0.1"))
        same_network = {
            "page": page.upload(image_url=url, headers={"Accept": "application/json"}),
            "records": script.http.post("/api/v1/records", json={"name": "c", "image_url": url},
                                        headers=script.headers()),
            "remove": script.http.post("/api/v1/remove", json={"image_url": url},
                                       headers=script.headers())}
        for door, answer in same_network.items():
            assert (answer.status_code, answer.get_json(), answer.headers["Retry-After"]) == (
                429, {"error": "rate_limited", "message": HELD_ONE}, "15"), door
        backdrop = script.http.post("/api/v1/remove", data={
            "image": (io.BytesIO(photo()), "cat.jpg"), "output": "image",
            "background_image_url": url}, headers=script.headers())
        assert (backdrop.status_code, backdrop.get_json()["message"]) == (
            429, "The background photo could not be used. " + HELD_ONE)
        keyed = _from(app, "10.0.0.1").post("/v1.0/removebg", data={"image_url": url},
                                        headers={"X-Api-Key": KEY})
        assert keyed.status_code == 200, keyed.get_data(as_text=True)  # a key: a client
        assert silent.calls == ["https://a.example/slow.jpg", url]
        other = ApiClient(_from(app, "10.0.0.2"))
        served = other.http.post("/api/v1/remove", json={"image_url": url},
                                 headers=other.headers())
        assert served.status_code == 200 and silent.calls[1:] == [url, url]
    finally:
        silent.release.set()
        thread.join(10)
    assert answers[0].status_code == 201


@pytest.mark.parametrize("second, code", [
    ("2001:db8:1:1::2", 429),  # the same /64, one subscriber's: the same network
    ("2001:db8:1:2::1", 200), ("10.0.0.1", 200)])
def test_a_network_is_one_client_as_the_rate_limits_count_it(app, fake_engine, second, code):
    from tests.support import ApiClient, photo

    silent = app.extensions["services"].uploads.fetch._fetch = Silent("slow", photo())
    first = ApiClient(_from(app, "2001:db8:1:1::1"))
    thread = silent.in_flight(lambda: first.http.post("/api/v1/remove", json={
        "image_url": "https://a.example/slow.jpg"}, headers=first.headers()))
    try:
        other = ApiClient(_from(app, second))
        answer = other.http.post("/api/v1/remove", json={
            "image_url": "https://a.example/cat.jpg"}, headers=other.headers())
    finally:
        silent.release.set()
        thread.join(10)
    assert answer.status_code == code


def test_an_api_key_has_one_fetch_at_a_time_at_remove_bgs_door(app, fake_engine, monkeypatch):
    from tests.support import photo

    monkeypatch.setattr(module, "time", Clock(1000.0))
    silent = app.extensions["services"].uploads.fetch._fetch = Silent(answer=photo())
    client, headers = app.test_client(), {"X-Api-Key": KEY}
    answers = []
    thread = silent.in_flight(lambda: answers.append(client.post(
        "/v1.0/removebg", data={"image_url": "https://a.example/slow.jpg"}, headers=headers)))
    try:
        refused = client.post("/api/v1/remove", json={"image_url": "https://a.example/b.jpg"},
                              headers=headers)
        theirs = client.post("/v1.0/removebg", data={"image_url": "https://a.example/c.jpg"},
                             headers=headers)
    finally:
        silent.release.set()
        thread.join(10)
    assert (refused.status_code, refused.get_json()["message"]) == (429, HELD_ONE)
    assert theirs.status_code == 429 and theirs.headers["Retry-After"] == "15"
    assert theirs.get_json()["errors"][0]["title"] == HELD_ONE
    assert silent.calls == ["https://a.example/slow.jpg"] and answers[0].status_code == 200
