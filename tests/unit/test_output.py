"""Every output is made by the one compositor from the photo and the real model's mask, on
a real photo: exact pixels, exact sizes."""

import io

import numpy as np
import pytest
from PIL import Image

from app.core.forms import OutputOptions
from app.images.compose import render
from tests.support import cutout, encode, open_png, photo, photo_array


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
    alph = result.data.index(b"ALPH")  # written by app/images/webpwriter.py, filtered
    assert result.data[alph + 8] == 0b1001
    back = np.asarray(img.convert("RGBA")).astype(int)
    assert np.array_equal(back[..., 3], transparent[..., 3])  # alpha is lossless
    # The colours lossy, at quality 90: 2.05 levels on average (Pillow's RGBA encode, 1.97).
    visible = transparent[..., 3] > 0
    assert np.abs(back[..., :3] - transparent[..., :3])[visible].mean() < 2.5


def test_options_through_the_page_are_stored_with_the_record(visitor, fake_engine, records):
    visitor.upload(photo(), name="green", output="color", background="#00ff00", crop="true",
                   format="webp")
    (record,) = records.list(visitor.id())
    assert record.options == {"output": "color", "background": "#00ff00", "crop": True,
                              "crop_margin": 5, "format": "webp", "refine_edges": False}
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


def test_a_backdrop_covers_the_result_centred():
    """200×100, left half red, right half blue, covering 100×100: scaled by 1, the middle
    100 columns kept, so 50 red then 50 blue."""
    from app.images.backdrops import covering

    backdrop = Image.new("RGB", (200, 100), (255, 0, 0))
    backdrop.paste((0, 0, 255), (100, 0, 200, 100))
    covered = covering(backdrop, (100, 100)).rows(0, 100)
    assert covered.shape == (100, 100, 3)
    # LANCZOS blends a few pixels either side of the colours' border; elsewhere exact.
    assert (covered[:, :46] == (255, 0, 0)).all() and (covered[:, 54:] == (0, 0, 255)).all()
    # Scaled by 2 to 400×200, columns 175..225 kept.
    tall = covering(backdrop, (50, 200)).rows(0, 200)
    assert tall.shape == (200, 50, 3)
    assert (tall[:, :18] == (255, 0, 0)).all() and (tall[:, 32:] == (0, 0, 255)).all()


def test_the_subject_over_a_photo(engine, coffee, transparent):
    from app.core.results import cut_out
    from app.engines import EngineRunner
    from app.images.backdrops import covering
    from app.images.decoding import Photo, probe
    from tests.support import free

    backdrop = Image.new("RGB", (300, 200), (20, 40, 250))
    backdrop.paste((250, 200, 10), (150, 0, 300, 200))
    data = encode(backdrop, "PNG")
    made = cut_out(EngineRunner(engine), Photo(coffee, probe(coffee, 10**8)),
                   OutputOptions(output="image", format="png"),
                   backdrop=Photo(data, probe(data, 10**8)), pay=free)
    img = np.asarray(open_png(made.result.data)).astype(int)
    assert img.shape == (400, 600, 3)
    behind = covering(backdrop, (600, 400)).rows(0, 400).astype(int)
    alpha = transparent[..., 3:].astype(int)
    expected = (transparent[..., :3] * alpha + behind * (255 - alpha) + 127) // 255
    assert np.array_equal(img, expected)
    assert (img[transparent[..., 3] == 0][:, 2] > 200).any()  # the blue half shows


def test_portrait_mode_blurs_the_background_not_the_subject(engine, coffee, transparent):
    blurred = np.asarray(open_png(make(engine, coffee, output="blur").data)).astype(int)
    source = np.asarray(Image.open(io.BytesIO(coffee)).convert("RGB")).astype(int)
    subject = transparent[..., 3] == 255
    background = transparent[..., 3] == 0
    assert np.abs(blurred[subject] - source[subject]).max() <= 1  # the subject stays sharp
    # The background is smoothed: much less difference between neighbouring pixels.
    def roughness(img):
        return np.abs(np.diff(img, axis=1))[background[:, 1:]].mean()
    assert roughness(blurred) < roughness(source) / 3


def test_jpeg_results(engine, coffee):
    result = make(engine, coffee, output="color", background="#1e90ff", format="jpeg")
    assert result.content_type == "image/jpeg"
    img = Image.open(io.BytesIO(result.data))
    assert img.format == "JPEG" and img.mode == "RGB" and img.size == (600, 400)


def test_refined_edges_change_only_the_edge(engine, coffee, transparent):
    from scipy.ndimage import binary_erosion

    refined = np.asarray(open_png(make(engine, coffee, refine_edges=True).data))
    alpha, plain = refined[..., 3].astype(int), transparent[..., 3].astype(int)
    assert not np.array_equal(alpha, plain)
    # Far from any edge (8 px inside the subject, or 8 px out in the background) the result
    # is what it was; what changes is the band around the edge.
    # (8 px in every direction: eroded by a square; a cross's 8 steps reach only ~6 px in
    # along a diagonal edge, where the matte may soften the subject's rim.)
    square = np.ones((3, 3), bool)
    inside = binary_erosion(plain >= 250, square, iterations=8)
    outside = binary_erosion(plain <= 5, square, iterations=8)
    assert inside.sum() > 50_000 and outside.sum() > 50_000
    assert alpha[inside].min() >= 245 and alpha[outside].max() <= 10
    assert (np.abs(alpha - plain) > 32).mean() < 0.05


def test_a_turn_ends_with_the_decoded_pixels(engine, coffee):
    """The full-size photo and background are forgotten when the result is made, before
    the request goes on to store it (the next job's turn may start meanwhile)."""
    from app.core.results import cut_out
    from app.engines import EngineRunner
    from app.images.decoding import Photo, probe
    from tests.support import free

    photo, behind = (Photo(coffee, probe(coffee, 10**8)) for _ in range(2))
    made = cut_out(EngineRunner(engine), photo, OutputOptions(output="image"), pay=free,
                   backdrop=behind)
    assert made.result.width == 600
    assert photo._full is None and behind._full is None
