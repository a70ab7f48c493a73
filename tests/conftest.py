import fcntl
import os

import pytest

from app import create_app
from app.settings import Settings
from tests.support import (
    MODELS_DIR,
    ApiClient,
    FakeEngine,
    Visitor,
    model_path,
    photo,
    use_engine,
)

SECRET = "test-secret-key-not-for-production"


def pytest_collection_modifyitems(items):
    """Modules marked `alone` first: under pytest-xdist (`make test`) they take turns while
    the other workers wait, so running them before the rest leaves one wait, not one per
    module."""
    items.sort(key=lambda item: item.get_closest_marker("alone") is None)


@pytest.fixture(scope="module", autouse=True)
def _alone_or_together(request, tmp_path_factory):
    """Under pytest-xdist, a module marked `alone` (it times answers, loads the machine on
    purpose, measures a worker's memory or stops the shared database) holds a lock no other
    module's tests run beside, from its module fixtures' start to their end (session ones,
    such as `engine`, come before); every other module shares that lock. Files in the run's
    temporary folder, which every worker's folder sits in. Servers are started with
    subprocess, which does not hand them these files: a forked child would keep the lock."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    folder = tmp_path_factory.getbasetemp().parent
    with open(folder / "alone.gate", "a") as gate, open(folder / "alone.lock", "a") as lock:
        # A shared lock is granted beside a waiting exclusive one, so with several workers
        # an `alone` module could wait until the rest ran out: the gate, held while waiting,
        # keeps new modules from starting meanwhile.
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        yield


@pytest.fixture
def settings():
    return Settings(app_env="production", secret_key=SECRET, bg_engine="local",
                    bg_models_dir=str(MODELS_DIR))


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def fake_engine(app):
    """Swap the model for a fast stand-in (tests about the web layer, not the cutout)."""
    return use_engine(app, FakeEngine())


@pytest.fixture
def keyed(app, fake_engine):
    """The app with the fast engine, and a store that keeps keys (as with MongoDB)."""
    app.extensions["services"].demo_storage = False
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def visitor(client):
    return Visitor(client)


@pytest.fixture
def other_visitor(app):
    return Visitor(app.test_client())


@pytest.fixture
def records(app):
    return app.extensions["services"].records


@pytest.fixture
def api(client, fake_engine):
    """The same visitor as `visitor`, as a script using the JSON API."""
    return ApiClient(client)


@pytest.fixture
def record_id(visitor, fake_engine):
    """A record of `visitor`'s (and `api`'s), "Raven", uploaded through the page."""
    visitor.upload(photo(), name="Raven")
    (record_id,) = visitor.record_ids()
    return record_id


@pytest.fixture(scope="session")
def engine():
    """The local engine with the default model, loaded once (the RapidAPI tests define
    their own `engine`)."""
    from app.engines.local import LocalEngine

    return LocalEngine(model_path())


@pytest.fixture(scope="module")
def photo_server():
    """The address of a photo server on loopback (tests/photo_server.py), for a module's
    fetches by address; its held answers are let go when the module ends."""
    from tests.photo_server import RELEASE, serve

    RELEASE.clear()
    server = serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    RELEASE.set()
    server.shutdown()
    server.server_close()


class Clock:
    """time.time() for the limiter's memory store and Retry-After, moved by the test."""

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now

    def __getattr__(self, name):
        import time

        return getattr(time, name)


@pytest.fixture
def limits_clock(monkeypatch):
    """The upload limits' clock, standing still at 1,000,000 s until the test moves it: a
    busy machine's own clock would move Retry-After by a second now and then."""
    import limits.storage.memory

    from app.http import limits as upload_limits

    clock = Clock(1_000_000.0)
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(upload_limits, "time", clock)
    return clock
