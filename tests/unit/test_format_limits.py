"""A result wider or taller than its format can hold (WebP 16,383 px; JPEG and the zip's
JPEG 65,500, libjpeg's limit, which refuses 65,535 though the format holds it) is a 400
with the limit and the result's size, at every door, before any work when the size is
known up front, and once its crop is known otherwise; one pixel less is made. Before, the
encoders' own errors were answered 500 (a script author's and an attacker's find)."""

import io

import pytest
from PIL import Image

from app.images.outputs import MAX_SIDE
from tests.support import ApiClient, FakeEngine, Visitor, encode, use_engine
from tests.unit.test_doors import answer, page_edit

KEY = "format-limits-key-0123"


def sentence(label: str, limit: int, width: int, height: int) -> str:
    return (f"A {label} result can be at most {limit:,} pixels wide and high, and this one "
            f"would be {width:,} × {height:,}. Choose PNG, or send a smaller photo.")


def strip(width: int, height: int) -> bytes:
    """A photo as wide (or tall) as the case needs, small in bytes."""
    return encode(Image.new("RGB", (width, height), (200, 120, 40)), "PNG")


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"tester:{KEY}")


@pytest.fixture
def engine(app):
    return use_engine(app, FakeEngine())


def api_remove(client, data: bytes, **fields):
    form = {"image": (io.BytesIO(data), "strip.png"), **fields}
    return client.post("/api/v1/remove", data=form, content_type="multipart/form-data",
                       headers={"X-Api-Key": KEY})


def removebg(client, data: bytes, **fields):
    form = {"image_file": (io.BytesIO(data), "strip.png"), "size": "full", **fields}
    answered = client.post("/v1.0/removebg", data=form, content_type="multipart/form-data",
                           headers={"X-Api-Key": KEY})
    if answered.status_code == 200:
        return 200, None, None
    (error,) = answered.get_json()["errors"]
    return answered.status_code, error["code"], error["title"]


def upload_answers(app, data: bytes, fields: dict, removebg_fields: dict) -> dict:
    """door -> (status, code, sentence) for the same photo and options."""
    client = app.test_client()
    return {
        "page": answer(page_upload_of(Visitor(app.test_client()), data, fields)),
        "api": answer(ApiClient(app.test_client()).create(data, **fields)),
        "remove": answer(api_remove(client, data, **fields)),
        "removebg": removebg(client, data, **removebg_fields),
    }


def page_upload_of(visitor, data: bytes, fields: dict):
    form = {"name": "strip", **fields, "csrf_token": visitor.ensure_token(),
            "image": (io.BytesIO(data), "strip.png")}
    return visitor.client.post("/", data=form, content_type="multipart/form-data",
                               headers={"Accept": "application/json"})


# (format, label, fields, remove.bg's fields for the same result, wide or tall)
CASES = {
    "webp-wide": ("webp", "WebP", {"format": "webp"}, {"format": "webp"}, True),
    "webp-tall": ("webp", "WebP", {"format": "webp"}, {"format": "webp"}, False),
    "jpeg-wide": ("jpeg", "JPEG", {"format": "jpeg", "output": "color"},
                  {"format": "jpg", "bg_color": "ffffff"}, True),
    "zip-wide": ("zip", "zip", {"format": "zip"}, {"format": "zip"}, True),
}


@pytest.mark.parametrize("case", CASES)
def test_one_pixel_over_a_formats_limit_is_refused_at_every_door_before_any_work(
        app, engine, case):
    file_format, label, fields, theirs, wide = CASES[case]
    over = MAX_SIDE[file_format] + 1
    size = (over, 2) if wide else (2, over)
    answers = upload_answers(app, strip(*size), fields, theirs)
    refusal = (400, "invalid_options", sentence(label, MAX_SIDE[file_format], *size))
    if file_format == "zip":  # only a removal can be a zip
        del answers["page"], answers["api"]
    assert answers.pop("removebg") == (400, "invalid_options", refusal[2])
    assert set(answers.values()) == {refusal}
    assert engine.calls == 0


@pytest.mark.parametrize("case", CASES)
def test_exactly_a_formats_limit_is_made(app, engine, case):
    file_format, _, fields, theirs, wide = CASES[case]
    side = MAX_SIDE[file_format]
    size = (side, 2) if wide else (2, side)
    answers = upload_answers(app, strip(*size), fields, theirs)
    if file_format == "zip":
        del answers["page"], answers["api"]
    assert set(answers.values()) == {(200, None, None)}


def test_an_edit_to_a_format_too_small_for_the_photo_is_refused_and_changes_nothing(
        app, engine):
    page, script = Visitor(app.test_client()), ApiClient(app.test_client())
    data = strip(MAX_SIDE["webp"] + 1, 2)
    assert page_upload_of(page, data, {}).status_code == 201
    (page_record,) = page.record_ids()
    created = script.create(data).get_json()
    made = engine.calls
    refusal = (400, "invalid_options", sentence("WebP", 16383, 16384, 2))
    assert answer(page_edit(page, page_record, {"format": "webp"})) == refusal
    assert answer(script.edit(created["id"], {"format": "webp"})) == refusal
    assert engine.calls == made  # the kept masks were not even used
    kept = script.http.get(f"/api/v1/records/{created['id']}").get_json()
    assert kept["options"]["format"] == "png" and kept["processed"] == created["processed"]


@pytest.mark.parametrize(("width", "made"), [(32766, True), (32768, False)])
def test_a_crop_is_checked_once_its_size_is_known(app, engine, width, made):
    """The stand-in engine keeps the left half: cropped with no margin, a 32,766 px strip
    is 16,383 wide and fits a WebP; 32,768 is 16,384 and does not, though both photos are
    over the limit before the crop."""
    answered = answer(api_remove(app.test_client(), strip(width, 2), format="webp",
                                 crop="true", crop_margin="0"))
    if made:
        assert answered == (200, None, None)
    else:
        assert answered == (400, "invalid_options", sentence("WebP", 16383, width // 2, 2))
    assert engine.calls == 1


# A WebP result of more than MAX_PIXELS["webp"]: its encoder's memory (helper 76).
WEBP_PIXELS = ("A WebP result can have at most 16 megapixels, and this one would be {:,} × "
               "{:,}. Choose PNG, or send a smaller photo.")


def test_a_webp_result_of_more_than_16_megapixels_is_refused_at_every_door_before_work(
        app, engine):
    size = (16001, 1000)  # one column over
    answers = upload_answers(app, strip(*size), {"format": "webp"}, {"format": "webp"})
    assert answers == {door: (400, "invalid_options", WEBP_PIXELS.format(*size))
                       for door in answers}
    assert engine.calls == 0


@pytest.mark.parametrize(("fields", "size"), [
    ({"format": "webp"}, (16000, 1000)),  # exactly the limit
    # Over it before the crop, under once known: the stand-in keeps the left half.
    ({"format": "webp", "crop": "true", "crop_margin": "0"}, (16002, 1000)),
])
def test_a_webp_result_of_16_megapixels_is_made(app, engine, fields, size):
    made = api_remove(app.test_client(), strip(*size), **fields)
    assert answer(made) == (200, None, None)
    assert Image.open(io.BytesIO(made.data)).size == (
        (size[0] // 2, size[1]) if "crop" in fields else size)


def test_an_edit_to_webp_of_a_photo_over_16_megapixels_is_refused(app, engine):
    script = ApiClient(app.test_client())
    created = script.create(strip(16001, 1000)).get_json()
    assert answer(script.edit(created["id"], {"format": "webp"})) == (
        400, "invalid_options", WEBP_PIXELS.format(16001, 1000))
    assert script.edit(created["id"], {"format": "webp", "crop": True}).status_code == 200
