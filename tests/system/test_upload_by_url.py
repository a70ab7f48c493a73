"""A photo given by its address, through the app: fetched, checked and cut out like an
upload; every refusal a 400 with a sentence, nothing stored. A photo server on loopback,
allowed with URL_ALLOWED_NETWORKS as an operator would allow a private network."""

import io

import pytest
from PIL import Image

from app import create_app
from tests.photo_server import LIMIT, PHOTO, RELEASE, serve
from tests.support import FakeEngine, Visitor, use_engine

API = "/api/v1"


@pytest.fixture(scope="module")
def base():
    server = serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    RELEASE.set()
    server.shutdown()


def app_allowing(settings, networks):
    # The photo server's /big says it is over 1 MB: the app's upload limit here.
    app = create_app(settings.changed(url_allowed_networks=networks, url_fetch_timeout=5,
                                      max_content_length=LIMIT))
    use_engine(app, FakeEngine())
    return app


def create(app, **form):
    client = app.test_client()
    token = client.get(f"{API}/session").get_json()["csrf_token"]
    return client, client.post(f"{API}/records", data={"name": "by url", **form},
                               headers={"X-CSRFToken": token},
                               content_type="multipart/form-data")


def test_a_photo_by_address_is_stored_like_an_upload(settings, base):
    client, response = create(app_allowing(settings, "127.0.0.0/8"), image_url=f"{base}/photo")
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert client.get(record["original"]["url"]).data == PHOTO
    cut = Image.open(io.BytesIO(client.get(record["processed"]["url"]).data))
    assert cut.size == Image.open(io.BytesIO(PHOTO)).size and cut.mode == "RGBA"


def test_the_page_takes_an_address_too(settings, base):
    app = app_allowing(settings, "127.0.0.0/8")
    visitor = Visitor(app.test_client())
    visitor.upload(None, name="from the web", image_url=f"{base}/photo")
    assert visitor.flashes() == [("success", "Image generated successfully")]


@pytest.mark.parametrize("path, code, words", [
    ("/photo", "url_refused", "is a loopback address"),  # not allowed: only public ones
])
def test_private_addresses_are_refused_by_default(settings, base, path, code, words):
    app = app_allowing(settings, "")
    _, response = create(app, image_url=f"{base}{path}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == code and words in body["message"]
    assert app.extensions["services"].records.count("x") == 0
    assert list(app.extensions["services"].records.files.find({})) == []


@pytest.mark.parametrize("form, status, code", [
    ({"image_url": "ftp://example.com/cat.jpg"}, 400, "invalid_url"),
    ({"image_url": "http://169.254.169.254/latest/meta-data/"}, 400, "url_refused"),
    ({"image_url": "{base}/status/404"}, 400, "url_failed"),
    ({"image_url": "{base}/hops/4"}, 400, "url_failed"),
    ({"image_url": "{base}/big"}, 413, "too_large"),
])
def test_every_refusal_is_a_4xx_with_a_sentence(settings, base, form, status, code):
    app = app_allowing(settings, "127.0.0.0/8")
    form = {k: v.format(base=base) for k, v in form.items()}
    _, response = create(app, **form)
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == code and len(body["message"]) > 20


def test_a_file_and_an_address_together_are_refused(settings, base):
    _, response = create(app_allowing(settings, "127.0.0.0/8"), image_url=f"{base}/photo",
                         image=(io.BytesIO(PHOTO), "p.jpg"))
    assert response.status_code == 400
    assert response.get_json()["message"] == "Send a file or an address (image_url), not both."
