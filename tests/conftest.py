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
