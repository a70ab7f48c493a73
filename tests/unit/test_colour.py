"""A photo that carries a colour profile (an iPhone's Display P3, a camera's Adobe RGB) is
decoded in sRGB, so its result looks as the photo does in a browser; results and
renditions carry no profile (sRGB, as every viewer assumes of an image without one); sRGB's
own profile, a broken one, one that is not RGB or one over MAX_PROFILE_BYTES change
nothing; the same at every door, in an edit and through the real model."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from app.images import colour
from app.images.decoding import InvalidImage, decode, probe
from tests import icc
from tests.support import (
    ApiClient,
        Visitor,
    assert_error,
    cutout,
    encode,
    photo_array,
)

KEY = "colour-test-key-0123"
P3 = icc.profile(icc.DISPLAY_P3, 2.2, "Display P3 (test)")
ADOBE = icc.profile(icc.ADOBE_RGB, 2.2, "Adobe RGB (test)")
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# Inside both P3's gamut and sRGB's, so no channel is clipped and every level is known.
COLOURS = [(200, 90, 70), (60, 170, 90), (70, 90, 200), (128, 128, 128), (230, 210, 120),
           (20, 30, 40)]


def stripes(mode: str = "RGB") -> Image.Image:
    """The colours as stripes of 20 columns, across the left half the fake engine keeps."""
    row = np.repeat(np.array(COLOURS, np.uint8), 20, axis=0)
    pixels = np.tile(np.concatenate([row, row[::-1]])[None], (50, 1, 1))
    img = Image.fromarray(pixels, "RGB")
    if mode == "RGBA":
        img.putalpha(Image.linear_gradient("L").resize(img.size))
    return img


def tagged(profile: bytes | None, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    options = {"icc_profile": profile} if profile else {}
    return encode(stripes(mode), fmt, **({"quality": 95} if fmt == "JPEG" else {}), **options)


def stored(data: bytes) -> np.ndarray:
    """The numbers the file holds, read without its profile."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), int)


def off_by(result: Image.Image, expected: np.ndarray) -> int:
    return int(np.abs(np.asarray(result.convert("RGB"), int) - expected).max())


@pytest.mark.parametrize(("profile", "primaries", "fmt"), [
    (P3, icc.DISPLAY_P3, "PNG"), (P3, icc.DISPLAY_P3, "JPEG"), (P3, icc.DISPLAY_P3, "WEBP"),
    (ADOBE, icc.ADOBE_RGB, "PNG")])
def test_a_tagged_photo_is_decoded_in_srgb(profile, primaries, fmt):
    data = tagged(profile, fmt)
    expected = icc.in_srgb(stored(data), primaries, 2.2)
    assert np.abs(expected - stored(data)).max() > 20  # the profile matters to these colours
    decoded = decode(data)
    assert decoded.mode == "RGB" and off_by(decoded, expected) <= 1
    assert "icc_profile" not in decoded.info


def test_transparency_is_kept_exactly_as_the_colours_move():
    data = tagged(P3, mode="RGBA")
    decoded = decode(data)
    assert decoded.mode == "RGBA"
    assert np.array_equal(np.asarray(decoded)[..., 3],
                          np.asarray(Image.open(io.BytesIO(data)))[..., 3])
    assert off_by(decoded, icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2)) <= 1


def test_only_a_profile_that_moves_colours_costs_a_conversion(monkeypatch):
    """sRGB's own profile is recognised once (a small probe image), then the photo is left
    as it is: converting it would change no level and cost 0.3 s at 12 MP."""
    sizes, convert = [], ImageCms.applyTransform
    monkeypatch.setattr(ImageCms, "applyTransform",
                        lambda img, *args, **kwargs: sizes.append(img.size)
                        or convert(img, *args, **kwargs))
    for _ in range(2):
        decode(tagged(SRGB))
    assert stripes().size not in sizes
    decode(tagged(P3))
    assert sizes.count(stripes().size) == 1


@pytest.mark.parametrize(("size", "whole"), [((1999, 2001), True), ((2000, 2000), False)])
def test_a_large_photo_is_converted_by_bands_on_two_threads(monkeypatch, size, whole):
    """From SPLIT_PIXELS (4 MP) up, bands of rows on the writer's threads; the same colours
    either way, seams included."""
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), np.uint8)
    data = encode(Image.fromarray(pixels), "PNG", icc_profile=P3, compress_level=0)
    sizes, convert = [], ImageCms.applyTransform
    monkeypatch.setattr(ImageCms, "applyTransform",
                        lambda img, *args, **kwargs: sizes.append(img.size)
                        or convert(img, *args, **kwargs))
    decoded = decode(data)
    assert (sizes == [size]) is whole
    assert sum(height for width, height in sizes if width == size[0]) == size[1]
    assert off_by(decoded, icc.in_srgb(pixels, icc.DISPLAY_P3, 2.2)) <= 1


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_a_grey_photos_profile_is_its_tone_curve(mode):
    """Photoshop's grey (here gamma 1.8): level 128 is sRGB's 146 in a browser."""
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    img = Image.fromarray(ramp, "L")
    if mode == "LA":
        img.putalpha(Image.fromarray(ramp[:, ::-1]))
    data = encode(img, "PNG", icc_profile=icc.grey_profile(1.8))
    decoded = np.asarray(decode(data)).astype(int)
    expected = icc.grey_in_srgb(ramp, 1.8)
    assert expected[0, 128] == 146
    for channel in range(3):
        assert np.abs(decoded[..., channel] - expected).max() <= 1
    if mode == "LA":
        assert np.array_equal(decoded[..., 3], ramp[:, ::-1])


@pytest.mark.parametrize(("mode", "profile"), [
    ("L", P3),  # an RGB profile on a grey photo: libpng and browsers leave it out
    ("CMYK", P3),  # on CMYK: read by Pillow as before, not made worse
    ("RGB", icc.grey_profile(1.8)),  # a grey profile on a colour photo
], ids=["grey-photo-rgb-profile", "cmyk-photo-rgb-profile", "colour-photo-grey-profile"])
def test_a_profile_of_another_colour_space_than_the_photos_is_left_out(mode, profile):
    img = stripes().convert(mode)
    data = encode(img, "JPEG" if mode == "CMYK" else "PNG", icc_profile=profile)
    plain = encode(img, "JPEG" if mode == "CMYK" else "PNG")
    assert np.array_equal(np.asarray(decode(data)), np.asarray(decode(plain)))


def test_a_profiles_floating_point_tags_are_left_out():
    """littlecms reads D2B1 first and walks its curves a segment at a time (1 MB of them
    took 2.4-3.5 s for a 1×1 photo); browsers read the profile by its other tags, and so
    does the app. Here D2B1 holds straight curves, which littlecms would apply instead of
    the profile's gamma 2.2 ones."""
    profile = icc.with_float_tag(icc.DISPLAY_P3, 2.2)
    lcms = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                   colour.SRGB, "RGB", "RGB",
                                   ImageCms.Intent.RELATIVE_COLORIMETRIC)
    data = tagged(profile)
    assert off_by(ImageCms.applyTransform(Image.open(io.BytesIO(data)), lcms),
                  icc.in_srgb(stored(data), icc.DISPLAY_P3, 1.0)) <= 1  # it is read so
    assert off_by(decode(data), icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2)) <= 1


def test_a_png_whose_profile_inflates_past_the_limit_is_refused_with_its_reason(app):
    """Pillow's own limit for a PNG's profile (MAX_TEXT_CHUNK) is MAX_PROFILE_BYTES; the
    same profile in a JPEG is left out (test_a_profile_is_used_up_to_its_limit)."""
    over = tagged(P3 + b"\0" * (colour.MAX_PROFILE_BYTES - len(P3) + 1))
    with pytest.raises(InvalidImage) as refused:
        probe(over, 10**6)
    sentence = ("This file has a text or colour-profile chunk of more than 1 MB, far more than "
                "cameras and image editors write. Please save it again as an ordinary image.")
    assert (refused.value.kind, refused.value.message) == ("unsupported", sentence)
    script = ApiClient(app.test_client())
    assert assert_error(script.create(over), 415, "invalid_image")["message"] == sentence
    exactly = tagged(P3 + b"\0" * (colour.MAX_PROFILE_BYTES - len(P3)))
    assert off_by(decode(exactly), icc.in_srgb(stored(exactly), icc.DISPLAY_P3, 2.2)) <= 1


@pytest.mark.parametrize("profile", [
    SRGB,  # what most cameras and phones embed: sRGB under its own name
    b"not a profile at all",
    P3[:200],  # cut short
    ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),  # not RGB
], ids=["srgb", "garbage", "truncated", "lab"])
def test_these_profiles_leave_the_numbers_as_they_are(profile):
    data = tagged(profile)
    decoded = decode(data)
    assert np.array_equal(np.asarray(decoded), stored(data))
    assert "icc_profile" not in decoded.info


@pytest.mark.parametrize(("extra", "used"), [(0, True), (1, False)])
def test_a_profile_is_used_up_to_its_limit(extra, used):
    """In a JPEG, where nothing else limits it (a PNG's, test below). Lossy: the numbers
    read back from the file are the reference."""
    data = tagged(P3 + b"\0" * (colour.MAX_PROFILE_BYTES - len(P3) + extra), "JPEG")
    expected = icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2) if used else stored(data)
    assert off_by(decode(data), expected) <= (1 if used else 0)


def test_a_gamma_other_than_srgbs_is_not_taken_for_srgb():
    """sRGB's primaries with a plain 2.2 curve (sRGB's own is straight in the shadows):
    the darkest stripe moves by more than the one level the sRGB test allows."""
    data = tagged(icc.profile(icc.SRGB_PRIMARIES, 2.2))
    expected = icc.in_srgb(stored(data), icc.SRGB_PRIMARIES, 2.2)
    assert np.abs(expected - stored(data)).max() > 1
    assert off_by(decode(data), expected) <= 1


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"tester:{KEY}")


def _page(app, data):
    visitor = Visitor(app.test_client())
    assert visitor.upload(data, filename="p3.png").status_code == 302
    (record_id,) = visitor.record_ids()
    return visitor.client.get(f"/images/{record_id}/processed").data


def _api(app, data):
    script = ApiClient(app.test_client())
    record_id = script.create(data).get_json()["id"]
    return script.http.get(f"/api/v1/records/{record_id}/images/processed").data


def _remove(app, data):
    script = ApiClient(app.test_client())
    return script.http.post("/api/v1/remove", data={"image": (io.BytesIO(data), "p3.png")},
                            content_type="multipart/form-data", headers=script.headers()).data


def _removebg(app, data):
    return app.test_client().post("/v1.0/removebg", headers={"X-Api-Key": KEY},
                                  data={"image_file": (io.BytesIO(data), "p3.png")},
                                  content_type="multipart/form-data").data


@pytest.mark.usefixtures("fake_engine")
@pytest.mark.parametrize("door", [_page, _api, _remove, _removebg], ids=lambda d: d.__name__)
def test_every_door_answers_the_photos_colours_in_srgb(app, door):
    data = tagged(P3)
    result = Image.open(io.BytesIO(door(app, data)))
    assert (result.format, result.mode, "icc_profile" in result.info) == ("PNG", "RGBA", False)
    kept = np.asarray(result)[..., 3] == 255  # the fake engine's left half
    assert kept[:, :120].all() and not kept[:, 120:].any()
    expected = icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2)
    assert np.abs(np.asarray(result)[..., :3].astype(int) - expected)[kept].max() <= 1


@pytest.mark.usefixtures("fake_engine")
@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_an_edit_remakes_the_colours_in_srgb_on_a_background_in_srgb(app, fmt):
    script = ApiClient(app.test_client())
    data = tagged(P3)
    record_id = script.create(data).get_json()["id"]
    assert script.edit(record_id, {"output": "color", "background": "#102030",
                                   "format": fmt}).status_code == 200
    answer = script.http.get(f"/api/v1/records/{record_id}/images/processed")
    result = Image.open(io.BytesIO(answer.data))
    assert "icc_profile" not in result.info
    pixels = np.asarray(result.convert("RGB"), int)
    expected = icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2)
    # Lossy: the stripes' middles, away from the edges the encoders blur.
    middles = [20 * k + 10 for k in range(6)]
    assert np.abs(pixels[25, middles] - expected[25, middles]).max() <= 3
    assert np.abs(pixels[25, 150:230] - (16, 32, 48)).max() <= 3  # the colour as chosen


@pytest.mark.usefixtures("fake_engine")
def test_a_background_photo_with_a_profile_is_put_behind_in_srgb(app):
    """Under an untagged photo: the background's numbers are converted, the photo's not."""
    script = ApiClient(app.test_client())
    backdrop = encode(Image.new("RGB", (60, 40), COLOURS[0]), "PNG", icc_profile=P3)
    answer = script.http.post("/api/v1/remove", headers=script.headers(),
                              content_type="multipart/form-data", data={
                                  "image": (io.BytesIO(tagged(None)), "plain.png"),
                                  "output": "image",
                                  "background_image": (io.BytesIO(backdrop), "p3.png")})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    pixels = np.asarray(Image.open(io.BytesIO(answer.data)).convert("RGB"), int)
    assert np.array_equal(pixels[:, :120], stored(tagged(None))[:, :120])
    expected = icc.in_srgb([COLOURS[0]], icc.DISPLAY_P3, 2.2)[0]
    assert np.abs(pixels[:, 120:] - expected).max() <= 1
    assert np.abs(expected - COLOURS[0]).max() > 10  # (217, 80, 59)


@pytest.mark.usefixtures("fake_engine")
def test_the_gallery_renditions_show_the_photo_in_srgb(app):
    script = ApiClient(app.test_client())
    data = tagged(P3)
    record_id = script.create(data).get_json()["id"]
    answer = script.http.get(f"/api/v1/records/{record_id}/images/original/160")
    rendition = Image.open(io.BytesIO(answer.data))
    assert (rendition.format, "icc_profile" in rendition.info) == ("WEBP", False)
    shown = np.asarray(rendition.convert("RGB").resize((240, 50)), int)
    expected = icc.in_srgb(stored(data), icc.DISPLAY_P3, 2.2)
    middles = [20 * k + 10 for k in range(12)]
    assert np.abs(shown[25, middles] - expected[25, middles]).max() <= 4
    assert np.abs(shown[25, middles] - stored(data)[25, middles]).max() > 20


def test_the_real_model_on_a_real_photo_in_display_p3(engine):
    """The astronaut tagged as Display P3: the subject's pixels are the photo's colours in
    sRGB, and the model saw them so: its mask is within a few levels of the one it makes of
    the photo converted by numpy (of the unconverted numbers, 88 levels off in places)."""
    raw = photo_array("astronaut")
    data = encode(Image.fromarray(raw), "PNG", icc_profile=P3)
    expected = icc.in_srgb(raw, icc.DISPLAY_P3, 2.2)
    result = Image.open(io.BytesIO(cutout(engine, data).data))
    assert "icc_profile" not in result.info
    pixels = np.asarray(result).astype(int)
    opaque = pixels[..., 3] == 255
    assert opaque.mean() > 0.2
    assert np.abs(pixels[..., :3] - expected)[opaque].max() <= 1
    by_numpy = Image.open(io.BytesIO(cutout(
        engine, encode(Image.fromarray(expected.astype(np.uint8)), "PNG")).data))
    apart = np.abs(np.asarray(by_numpy)[..., 3].astype(int) - pixels[..., 3])
    assert apart.max() <= 8 and apart.mean() < 0.1
