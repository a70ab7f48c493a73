"""The RapidAPI engine, with the HTTP edge faked by `responses`."""

import base64
import io
import urllib.parse

import numpy as np
import pytest
import requests
import responses
from PIL import Image

from app import create_app
from app.engines import EngineError, EngineTimeout, EngineUnavailable, QuotaExceeded, rapidapi
from app.engines.rapidapi import RapidApiEngine
from tests.support import Visitor, cutout, encode, open_png, photo

URL = "https://background-removal.p.rapidapi.com/remove"


def cutout_body(img=None, fmt="PNG"):
    img = img or Image.new("RGBA", (451, 300), (10, 20, 30, 0))
    return {"response": {"image_base64": base64.b64encode(encode(img, fmt)).decode()}}


@pytest.fixture
def engine():
    return RapidApiEngine(key="secret-key", host="background-removal.p.rapidapi.com", url=URL,
                          connect_timeout=0.5, timeout=2)


def remove(engine, data=None):
    """The stored result when RapidAPI made the mask."""
    return cutout(engine, data or photo())


@responses.activate
def test_success_sends_the_original_request(engine):
    responses.post(URL, json=cutout_body())
    data = photo()
    result = remove(engine, data)
    assert result.content_type == "image/png" and (result.width, result.height) == (451, 300)
    assert open_png(result.data).mode == "RGBA"
    (call,) = responses.calls
    assert call.request.headers["X-RapidAPI-Key"] == "secret-key"
    assert call.request.headers["X-RapidAPI-Host"] == "background-removal.p.rapidapi.com"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = urllib.parse.parse_qs(call.request.body)
    assert form["output_format"] == ["base64"]
    assert base64.b64decode(form["image_base64"][0]) == data


@responses.activate
def test_a_webp_answer_is_stored_as_png(engine):
    responses.post(URL, json=cutout_body(Image.new("RGBA", (451, 300), (0, 0, 0, 0)), "WEBP"))
    assert open_png(remove(engine).data).size == (451, 300)


@responses.activate
def test_an_answer_without_transparency_is_a_failure(engine):
    responses.post(URL, json=cutout_body(Image.new("RGB", (451, 300), "white"), "WEBP"))
    with pytest.raises(EngineError):
        remove(engine)


@responses.activate
def test_only_the_services_matte_is_used_at_the_photos_full_size(engine):
    """The service may answer smaller and with darkened edges; the photo keeps its pixels."""
    matte = Image.new("RGBA", (226, 150), (0, 0, 0, 0))
    matte.paste((0, 0, 0, 255), (0, 0, 113, 150))  # left half opaque, colour black
    responses.post(URL, json=cutout_body(matte))
    data = photo()
    img = open_png(remove(engine, data).data)
    assert img.size == (451, 300)
    pixels = np.asarray(img)
    source = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert pixels[150, 50, 3] == 255 and pixels[150, 400, 3] == 0
    assert np.array_equal(pixels[150, 50, :3], source[150, 50])


@responses.activate
def test_http_400_is_a_failure(engine):
    responses.post(URL, status=400, json={"message": "bad image"})
    with pytest.raises(EngineError) as caught:
        remove(engine)
    assert type(caught.value) is EngineError
    assert len(responses.calls) == 1  # a 4xx is not retried


@pytest.mark.parametrize("body", [{"response": {}}, {"error": "x"}, {"response": {"image_base64":
                                  "@@not base64@@"}}, {"response": {"image_base64": "aGVsbG8="}}])
@responses.activate
def test_a_body_without_a_usable_image_is_a_failure(engine, body):
    responses.post(URL, json=body)
    with pytest.raises(EngineError):
        remove(engine)


@responses.activate
def test_a_body_that_is_not_json_is_a_failure(engine):
    responses.post(URL, body="<html>gateway</html>")
    with pytest.raises(EngineError):
        remove(engine)


@responses.activate
def test_a_timeout_is_retried_once_then_reported(engine):
    responses.post(URL, body=requests.Timeout("read timed out"))
    with pytest.raises(EngineTimeout):
        remove(engine)
    assert len(responses.calls) == 2


@responses.activate
def test_a_5xx_then_success_succeeds(engine):
    responses.post(URL, status=503)
    responses.post(URL, json=cutout_body())
    assert remove(engine).width == 451
    assert len(responses.calls) == 2


@responses.activate
def test_two_5xx_are_unavailable(engine):
    responses.post(URL, status=500)
    with pytest.raises(EngineUnavailable):
        remove(engine)
    assert len(responses.calls) == 2


@responses.activate
def test_a_connection_error_is_unavailable(engine):
    responses.post(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(EngineUnavailable):
        remove(engine)


@responses.activate
def test_429_is_a_used_up_quota(engine):
    responses.post(URL, status=429)
    with pytest.raises(QuotaExceeded) as caught:
        remove(engine)
    assert "quota" in caught.value.message


@responses.activate
def test_a_refused_key_is_unavailable(engine):
    responses.post(URL, status=403)
    with pytest.raises(EngineUnavailable, match="refused our API key"):
        remove(engine)


class Clock:
    """time.monotonic for the engine: each POST takes `per_call` seconds."""

    def __init__(self, per_call):
        self.now, self.per_call = 0.0, per_call

    def __call__(self):
        return self.now


def timed_posts(engine, monkeypatch, per_call):
    clock, seen = Clock(per_call), []

    def post(url, **kwargs):
        seen.append(kwargs["timeout"])
        clock.now += clock.per_call
        raise requests.Timeout()

    monkeypatch.setattr(rapidapi.time, "monotonic", clock)
    monkeypatch.setattr(engine.session, "post", post)
    with pytest.raises(EngineTimeout):
        remove(engine)
    return seen


def test_the_retry_gets_what_is_left_of_one_deadline(engine, monkeypatch):
    """2 s for the whole call: the first attempt may take all of it, the retry only what
    the first left (2 - 0.7 = 1.3 s), each connect phase capped at 0.5 s."""
    first, retry = timed_posts(engine, monkeypatch, per_call=0.7)
    assert first == (0.5, 2.0)
    assert retry[0] == 0.5 and retry[1] == pytest.approx(1.3, abs=1e-9)


def test_no_retry_when_less_than_a_second_is_left(engine, monkeypatch):
    assert timed_posts(engine, monkeypatch, per_call=1.2) == [(0.5, 2.0)]


# Through the page: the flash texts the original showed.

@pytest.fixture
def api_app(settings):
    return create_app(settings.changed(bg_engine="auto", rapidapi_key="secret-key"))


def test_the_app_picks_rapidapi_when_a_key_is_set(api_app):
    assert api_app.extensions["services"].engines.name == "rapidapi"


@responses.activate
def test_page_success_stores_the_cutout_and_the_engine(api_app):
    responses.post(URL, json=cutout_body())
    visitor = Visitor(api_app.test_client())
    visitor.upload(photo(), name="via api")
    assert visitor.flashes() == [("success", "Image generated successfully")]
    (record,) = api_app.extensions["services"].records.list(visitor.id())
    assert record.engine == "rapidapi"
    png = visitor.client.get(f"/images/{record.id}/processed").data
    assert Image.open(io.BytesIO(png)).size == (451, 300)


@pytest.mark.parametrize("fake, text", [
    ({"status": 400}, "Failed to generate the image. The background could not be removed"),
    ({"json": {"response": {}}}, "Failed to generate the image. The background could not be"),
    ({"body": requests.Timeout()}, "Failed to generate the image. The background-removal "
                                   "service did not answer in time"),
    ({"status": 502}, "Failed to generate the image. The background-removal service is "
                      "unavailable"),
    ({"status": 429}, "Failed to generate the image. The background-removal service's quota is "
                      "used up"),
])
@responses.activate
def test_page_failures_flash_failed_to_generate(api_app, fake, text):
    responses.post(URL, **fake)
    visitor = Visitor(api_app.test_client())
    visitor.upload(photo())
    ((category, message),) = visitor.flashes()
    assert category == "danger"
    assert message.startswith(text)
    assert api_app.extensions["services"].records.list(visitor.id()) == []


# BG_ENGINE_FALLBACK=local: the local model steps in when RapidAPI fails.

@pytest.fixture
def fallback_app(settings):
    return create_app(settings.changed(bg_engine="rapidapi", rapidapi_key="secret-key",
                                       bg_engine_fallback="local"))


@pytest.mark.parametrize("fake, reason", [
    ({"body": requests.Timeout()}, "did not answer in time"),
    ({"status": 503}, "was unavailable"),
    ({"status": 429}, "has used up its quota"),
    ({"json": {"nope": 1}}, "could not process the image"),
])
@responses.activate
def test_the_local_engine_serves_when_rapidapi_fails(fallback_app, caplog, fake, reason):
    responses.post(URL, **fake)
    visitor = Visitor(fallback_app.test_client())
    visitor.upload(photo("rocket"), name="rocket")
    ((category, message),) = visitor.flashes()
    assert category == "success"
    assert message == ("Image generated successfully. Made by the local engine because the "
                       f"rapidapi engine {reason}.")
    (record,) = fallback_app.extensions["services"].records.list(visitor.id())
    # The page's script shows the server's sentence as it is (it joined the note itself).
    again = visitor.upload(photo("rocket"), name="again", headers={"Accept": "application/json"})
    assert (again.status_code, again.get_json()["message"]) == (201, message)
    assert record.engine == "local"
    png = open_png(visitor.client.get(f"/images/{record.id}/processed").data)
    assert png.getpixel((0, 0))[3] < 16 and png.getpixel((320, 213))[3] > 240
    assert "Engine rapidapi failed" in caplog.text
    assert "the local engine makes the mask instead" in caplog.text


@responses.activate
def test_no_fallback_note_when_rapidapi_works(fallback_app):
    responses.post(URL, json=cutout_body())
    visitor = Visitor(fallback_app.test_client())
    response = visitor.upload(photo(), headers={"Accept": "application/json"})
    assert response.status_code == 201
    assert response.get_json()["engine"] == "rapidapi"
    assert response.get_json()["note"] == ""


def test_the_fallback_setting_is_validated():
    from app.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="BG_ENGINE_FALLBACK"):
        Settings.from_env({"APP_SECRET_KEY": "k" * 32, "BG_ENGINE_FALLBACK": "rapidapi"},
                          dotenv=False)
    settings = Settings.from_env({"APP_SECRET_KEY": "k" * 32, "X_RAPID_API_KEY": "x",
                                  "BG_ENGINE_FALLBACK": "local"}, dotenv=False)
    assert settings.bg_engine_fallback == "local"


KEY = "rapidapi-doors-key-0123"


@pytest.mark.parametrize("fake, calls, status, wait", [
    ({"status": 429}, 1, 429, "60"),  # no wait of the service's own: the quota's default
    ({"status": 429, "headers": {"Retry-After": "3600"}}, 1, 429, "3600"),
    ({"status": 429, "headers": {"Retry-After": "86400"}}, 1, 429, "86400"),
    ({"status": 429, "headers": {"Retry-After": "86401"}}, 1, 429, "60"),
    ({"status": 429, "headers": {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}}, 1, 429,
     "60"),
    ({"status": 503, "headers": {"Retry-After": "7"}}, 2, 503, "7"),
    ({"status": 500}, 2, 503, "30"),
    ({"status": 403}, 1, 503, "30"),  # our key refused: the service is unavailable to us
    ({"body": requests.Timeout()}, 2, 504, None),
    ({"status": 400}, 1, 502, None),
])
@responses.activate
def test_a_failure_that_can_be_waited_out_says_how_long_at_every_door(settings, fake, calls,
                                                                      status, wait):
    """429 and 503 promise a Retry-After (the OpenAPI document requires it): the service's
    own when it gives one in seconds, else the failure's default; the page's JSON answer,
    the API's and remove.bg's door alike (remove.bg's status is ours for these)."""
    app = create_app(settings.changed(bg_engine="rapidapi", rapidapi_key="secret-key",
                                      api_keys=f"tester:{KEY}"))
    responses.post(URL, **fake)
    client = app.test_client()
    answers = {
        "page": Visitor(client).upload_json(photo()),
        "api": client.post("/api/v1/remove", headers={"X-Api-Key": KEY},
                           data={"image": (io.BytesIO(photo()), "a.jpg")}),
        "removebg": client.post("/v1.0/removebg", headers={"X-Api-Key": KEY},
                                data={"image_file": (io.BytesIO(photo()), "a.jpg")}),
    }
    assert {door: (a.status_code, a.headers.get("Retry-After")) for door, a in answers.items()
            } == {door: (status, wait) for door in answers}
    assert answers["api"].get_json()["error"] == "engine_failed"
    assert answers["removebg"].get_json()["errors"][0]["code"] == "engine_failed"
    assert len(responses.calls) == 3 * calls
