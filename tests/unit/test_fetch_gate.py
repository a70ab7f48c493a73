"""A bounded number of fetches by address at once per process; past it, busy at once with
the time until the oldest fetch in flight must have ended. Threads are held with events."""

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


def test_fetches_past_the_bound_are_busy_at_once_with_the_time_to_retry(monkeypatch):
    clock = Clock(1000.0)
    monkeypatch.setattr(module, "time", clock)
    release, inside = threading.Event(), threading.Semaphore(0)
    calls = []

    def silent(url):
        calls.append(url)
        inside.release()
        release.wait(30)
        return b"photo"

    gate = FetchGate(silent, slots=2, deadline=15)
    results = []
    first = threading.Thread(target=lambda: results.append(gate("a")))
    first.start()
    assert inside.acquire(timeout=10)
    clock.now = 1004.5  # the second starts 4.5 s after the first
    second = threading.Thread(target=lambda: results.append(gate("b")))
    second.start()
    assert inside.acquire(timeout=10)
    clock.now = 1006.2
    with pytest.raises(Rejected) as refused:
        gate("c")
    # The first fetch in flight must end by 1015: 8.8 s from now, said as 9.
    assert (refused.value.code, refused.value.kind, refused.value.retry_after) == (
        "busy", "busy", 9)
    assert calls == ["a", "b"]  # the third was never started
    release.set()
    first.join(10)
    second.join(10)
    assert results == [b"photo", b"photo"]
    assert gate("d") == b"photo"  # both slots free again


def test_a_failed_fetch_gives_its_slot_back():
    def failing(url):
        raise Rejected("url_failed", "The address answered 404 Not Found.")

    gate = FetchGate(failing, slots=1, deadline=15)
    for _ in range(3):
        with pytest.raises(Rejected) as refused:
            gate("x")
        assert refused.value.code == "url_failed"


def test_a_fetch_takes_a_place_in_the_admissions_line():
    """Fetches and uploads waiting for a turn share UPLOAD_QUEUE's places: with one place,
    a fetch in flight turns the next fetch (or a waiting upload) away at once."""
    from app.engines import Admission, Busy, Work

    line = Admission(slots=1, max_waiting=1, max_wait=60)
    release, inside = threading.Event(), threading.Event()

    def silent(url):
        inside.set()
        release.wait(30)
        return b"photo"

    gate = FetchGate(silent, slots=2, deadline=15, place=line.place)
    first = threading.Thread(target=gate, args=("a",))
    first.start()
    assert inside.wait(10)
    with pytest.raises(Rejected) as refused:
        gate("b")  # a fetch slot is free, but no place in line is
    assert refused.value.code == "busy"
    # The engine's slot is free, so one upload starts at once; but none may wait.
    with line.admitted(Work(0)), pytest.raises(Busy), line.admitted(Work(0)):
        pass
    release.set()
    first.join(10)
    assert gate("c") == b"photo"
