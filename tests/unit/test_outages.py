"""A database that does not answer is asked once, then not again for COOL_OFF seconds: each
call meanwhile is refused at once, so request threads (and /health) stay free."""

import concurrent.futures
import threading

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from app.storage import RecordRepository, StorageUnavailable
from app.storage import outages as module
from app.storage.embedded import embedded_database
from app.storage.keys import KeyBook


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(module.time, "monotonic", clock)
    return clock


@pytest.fixture
def hung():
    """A repository whose database times out, with the calls that reached it."""
    repo = RecordRepository(embedded_database("outages"), embedded=True)
    calls = []

    def timed_out(*args, **kwargs):
        calls.append(args)
        raise ServerSelectionTimeoutError("No servers found yet, Timeout: 5.0s")

    repo.records.count_documents = timed_out
    return repo, calls


def test_after_an_outage_the_database_is_not_asked_until_the_cool_off_ends(clock, hung):
    repo, calls = hung
    with pytest.raises(StorageUnavailable, match="No servers found yet"):
        repo.count("a")
    assert len(calls) == 1
    clock.now += module.COOL_OFF - 0.001
    with pytest.raises(StorageUnavailable, match="did not answer in the last 5 s"):
        repo.count("a")
    assert len(calls) == 1  # refused here, at once
    clock.now += 0.001  # exactly the cool-off: asked again
    with pytest.raises(StorageUnavailable, match="No servers found yet"):
        repo.count("a")
    assert len(calls) == 2


def test_an_answer_leaves_the_database_asked(clock):
    repo = RecordRepository(embedded_database("outages-ok"), embedded=True)
    assert [repo.count("a") for _ in range(3)] == [0, 0, 0]


def test_after_the_cool_off_one_call_asks_while_the_others_are_refused(clock, hung):
    """Past the cool-off every waiting thread went to the hung database at once (helper
    97): one asks, the others are refused until it has its answer; once it has one, every
    call is asked again at once."""
    repo, calls = hung
    with pytest.raises(StorageUnavailable):
        repo.count("a")
    clock.now += module.COOL_OFF
    asking, release = threading.Event(), threading.Event()

    def answers_late(*args, **kwargs):
        calls.append(args)
        asking.set()
        release.wait(10)
        return 7

    repo.records.count_documents = answers_late
    first = concurrent.futures.ThreadPoolExecutor(1).submit(repo.count, "a")
    assert asking.wait(10)
    for _ in range(5):
        with pytest.raises(StorageUnavailable, match="did not answer"):
            repo.count("a")
    assert len(calls) == 2  # the outage's, and the one asking now
    release.set()
    assert first.result(10) == 7
    assert [repo.count("a") for _ in range(3)] == [7, 7, 7]  # back: each asked at once
    assert len(calls) == 5


def test_a_call_inside_a_call_is_part_of_it(clock, hung):
    """Taking a slot makes sure of the indexes, each through the outages: the inner call
    asking after the cool-off was refused by the outer one's own asking."""
    repo, _ = hung
    with pytest.raises(StorageUnavailable):
        repo.count("a")
    clock.now += module.COOL_OFF
    del repo.records.count_documents  # the database is back
    repo._indexed = False
    with repo.reserved("a", 2) as slot:
        assert slot["slot"].startswith("a/")


def test_the_keys_share_their_stores_outage(clock, hung):
    """One store: an outage met by the records refuses the keys' calls too (an API key's
    every call looks itself up)."""
    repo, _ = hung
    database = embedded_database("outages-keys")
    book = KeyBook(database, {}, repo.outages)
    asked = []
    database["api_keys"].find_one = lambda *args, **kwargs: asked.append(args)
    with pytest.raises(StorageUnavailable):
        repo.count("a")
    with pytest.raises(StorageUnavailable, match="did not answer"):
        book.find("some-key-0123456789")
    assert asked == []


def test_the_apps_keys_and_records_are_one_store(app):
    services = app.extensions["services"]
    assert services.keys.outages is services.records.outages
