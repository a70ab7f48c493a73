import pytest

from app import create_app
from app.config import Settings
from tests.support import FakeEngine, Visitor, model_path

SECRET = "test-secret-key-not-for-production"


@pytest.fixture
def settings():
    return Settings(app_env="production", secret_key=SECRET, bg_engine="local",
                    bg_model_path=model_path())


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def fake_engine(app):
    """Swap the model for a fast stand-in (tests about the web layer, not the cutout)."""
    engine = FakeEngine()
    app.extensions["engine"] = engine
    return engine


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
    return app.extensions["records"]
