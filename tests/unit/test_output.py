"""Output options: parsed from the form or JSON, and each made from a real photo by the
real model."""

import io

import numpy as np
import pytest
from PIL import Image

from app.engines.local import LocalEngine
from app.imaging import inspect
from app.output import InvalidOptions, OutputOptions, render
from tests.support import encode, model_path, open_png, photo, photo_array


@pytest.fixture(scope="module")
def engine():
    return LocalEngine(model_path())


@pytest.fixture(scope="module")
def coffee():
    return encode(photo_array("coffee"), quality=95)


@pytest.fixture(scope="module")
def transparent(engine, coffee):
    """The default cutout, the reference the other options are compared with."""
    return np.asarray(open_png(engine.remove(coffee, inspect(coffee, 10**8)).data))


def make(engine, data, **fields):
    return engine.remove(data, inspect(data, 10**8), OutputOptions.parse(fields))


def test_defaults():
    assert OutputOptions.parse({}) == OutputOptions("transparent", None, False, 5, "png")


def test_parse_form_and_json_values():
    form = OutputOptions.parse({"output": "color", "background": "#A0B1C2", "crop": "true",
                                "crop_margin": "12", "format": "WEBP"})
    assert form == OutputOptions("color", "#a0b1c2", True, 12, "webp")
    json = OutputOptions.parse({"output": "mask", "crop": True, "crop_margin": 0})
    assert json == OutputOptions("mask", None, True, 0, "png")
    # A colour picker always sends a value; without output=color it is ignored.
    assert OutputOptions.parse({"background": "#123456"}).background is None


@pytest.mark.parametrize("fields, words", [
    ({"output": "sepia"}, "Output must be"),
    ({"output": "color"}, "background colour"),
    ({"output": "color", "background": "red"}, "background colour"),
    ({"output": "color", "background": "#12345"}, "background colour"),
    ({"format": "gif"}, "Format must be"),
    ({"crop": "maybe"}, "crop must be true or false"),
    ({"crop_margin": "-1"}, "crop margin"),
    ({"crop_margin": "101"}, "crop margin"),
    ({"crop_margin": "5.5"}, "crop margin"),
    ({"output": ["mask"]}, "wrong type"),
])
def test_bad_options_say_what_is_wrong(fields, words):
    with pytest.raises(InvalidOptions, match=words):
        OutputOptions.parse(fields)


def test_solid_colour(engine, coffee, transparent):
    cutout = make(engine, coffee, output="color", background="#00ff00")
    img = open_png(cutout.data)
    assert img.mode == "RGB" and img.size == (600, 400)
    pixels = np.asarray(img).astype(float)
    alpha = transparent[..., 3:].astype(float) / 255
    expected = transparent[..., :3] * alpha + np.array([0, 255, 0]) * (1 - alpha)
    assert np.abs(pixels - expected).max() <= 1
    assert (pixels[transparent[..., 3] == 0] == [0, 255, 0]).all()


def test_mask_only(engine, coffee, transparent):
    img = open_png(make(engine, coffee, output="mask").data)
    assert img.mode == "L"
    assert np.array_equal(np.asarray(img), transparent[..., 3])


def test_crop_to_the_subject_with_a_margin(engine, coffee, transparent):
    tight = open_png(make(engine, coffee, crop="true", crop_margin="0").data)
    roomy = open_png(make(engine, coffee, crop="true", crop_margin="10").data)
    subject = transparent[..., 3] > 16
    rows, cols = np.flatnonzero(subject.any(1)), np.flatnonzero(subject.any(0))
    assert tight.size == (cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
    assert tight.size[0] < 600 or tight.size[1] < 400
    assert roomy.size[0] > tight.size[0] and roomy.size[1] > tight.size[1]
    # the whole subject is kept: as much opaque area as the uncropped cutout
    assert (np.asarray(tight)[..., 3] > 16).sum() == subject.sum()


def test_crop_of_an_image_without_subject_keeps_everything():
    img = Image.new("RGB", (40, 30), "white")
    cutout = render(img, Image.new("L", (40, 30), 0), OutputOptions(crop=True))
    assert (cutout.width, cutout.height) == (40, 30)


def test_webp_with_alpha(engine, coffee, transparent):
    cutout = make(engine, coffee, format="webp")
    assert cutout.content_type == "image/webp"
    img = Image.open(io.BytesIO(cutout.data))
    assert img.format == "WEBP" and img.mode == "RGBA" and img.size == (600, 400)
    alpha = np.asarray(img.getchannel("A")).astype(int)
    assert np.abs(alpha - transparent[..., 3]).mean() < 2  # alpha is kept losslessly enough


def test_options_through_the_page_are_stored_with_the_record(visitor, fake_engine, records):
    visitor.upload(photo(), name="green", output="color", background="#00ff00", crop="true",
                   format="webp")
    (record,) = records.list(visitor.id())
    assert record.options == {"output": "color", "background": "#00ff00", "crop": True,
                              "crop_margin": 5, "format": "webp"}
    assert record.processed.content_type == "image/webp"
    response = visitor.client.get(f"/images/{record.id}/processed?download=1")
    assert response.mimetype == "image/webp"
    assert response.headers["Content-Disposition"].endswith("green.webp")


def test_bad_options_through_the_page(visitor, fake_engine):
    visitor.upload(photo(), output="color", background="blue")
    assert visitor.flashes() == [("danger", "Choose a background colour as #rrggbb, e.g. #ffffff.")]
    assert visitor.record_ids() == []
    assert fake_engine.calls == 0
    response = visitor.upload(photo(), output="x", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_options"


def test_the_page_offers_the_options(client):
    html = client.get("/").get_data(as_text=True)
    for snippet in ('name="output" id="output-transparent" value="transparent" checked',
                    'type="color"', 'name="crop"', 'name="format"', 'value="webp"'):
        assert snippet in html
