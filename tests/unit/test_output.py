"""Every output is made by the one compositor from the photo and the real model's mask, on
a real photo: exact pixels, exact sizes."""

import io

import numpy as np
import pytest
from PIL import Image

from app.core.forms import OutputOptions
from app.engines.local import LocalEngine
from app.images.compose import render
from app.settings import default_model_path
from tests.support import cutout, encode, open_png, photo, photo_array


@pytest.fixture(scope="module")
def engine():
    return LocalEngine(default_model_path())


@pytest.fixture(scope="module")
def coffee():
    return encode(photo_array("coffee"), quality=95)


@pytest.fixture(scope="module")
def transparent(engine, coffee):
    """The default cutout, the reference the other options are compared with."""
    return np.asarray(open_png(cutout(engine, coffee).data))


def make(engine, data, **fields):
    return cutout(engine, data, **fields)


@pytest.mark.parametrize("background, rgb", [("#00ff00", (0, 255, 0)),
                                             ("#1e90ff", (30, 144, 255)),
                                             ("#ff1493", (255, 20, 147))])
def test_solid_colour_in_the_right_channels(engine, coffee, transparent, background, rgb):
    """Each channel gets its own byte of the colour: a test with only #00ff00 or #ffffff
    would pass with red and blue swapped."""
    img = open_png(make(engine, coffee, output="color", background=background).data)
    assert img.mode == "RGB" and img.size == (600, 400)
    pixels = np.asarray(img).astype(int)
    alpha = transparent[..., 3:].astype(int)
    expected = (transparent[..., :3] * alpha + np.array(rgb) * (255 - alpha) + 127) // 255
    assert np.array_equal(pixels, expected)
    background_pixels = pixels[transparent[..., 3] == 0]
    assert len(background_pixels) > 1000
    assert (background_pixels == rgb).all()


def test_mask_only(engine, coffee, transparent):
    img = open_png(make(engine, coffee, output="mask").data)
    assert img.mode == "L"
    assert np.array_equal(np.asarray(img), transparent[..., 3])


def subject_box(transparent):
    subject = transparent[..., 3] > 16
    rows, cols = np.flatnonzero(subject.any(1)), np.flatnonzero(subject.any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def test_crop_to_the_subject(engine, coffee, transparent):
    tight = open_png(make(engine, coffee, crop="true", crop_margin="0").data)
    top, bottom, left, right = subject_box(transparent)
    assert tight.size == (right - left, bottom - top)
    assert tight.size[0] < 600 or tight.size[1] < 400
    # the whole subject is kept: as much opaque area as the uncropped cutout
    assert (np.asarray(tight)[..., 3] > 16).sum() == (transparent[..., 3] > 16).sum()
    assert np.array_equal(np.asarray(tight), transparent[top:bottom, left:right])


@pytest.mark.parametrize("percent", [3, 10, 25])
def test_the_crop_margin_is_that_percent_of_the_subjects_longer_side(engine, coffee,
                                                                       transparent, percent):
    top, bottom, left, right = subject_box(transparent)
    margin = round(max(bottom - top, right - left) * percent / 100)
    box = (max(0, top - margin), min(400, bottom + margin),
           max(0, left - margin), min(600, right + margin))
    roomy = open_png(make(engine, coffee, crop="true", crop_margin=str(percent)).data)
    assert roomy.size == (box[3] - box[2], box[1] - box[0])
    assert np.array_equal(np.asarray(roomy), transparent[box[0]:box[1], box[2]:box[3]])


def test_crop_of_an_image_without_subject_keeps_everything():
    img = Image.new("RGB", (40, 30), "white")
    result = render(img, Image.new("L", (40, 30), 0), OutputOptions(crop=True))
    assert (result.width, result.height) == (40, 30)


def test_webp_with_alpha(engine, coffee, transparent):
    result = make(engine, coffee, format="webp")
    assert result.content_type == "image/webp"
    img = Image.open(io.BytesIO(result.data))
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
