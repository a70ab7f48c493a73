"""What lies under a photo's full transparency is no one's: two files that look alike, one
with black and one with white under its transparent part, are worked on alike (the model's
mask, the blurred background, a background photo's transparent part), as white (helper 69:
the masks of two such files differed by up to 77 levels, and the blur showed the hidden
colour as a flat block)."""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from app.images.decoding import decode
from tests.support import ApiClient, cutout, encode, photo_array


def hiding(colour: tuple[int, int, int]) -> bytes:
    """The cat with its left 150 columns fully transparent over `colour`, and a column of
    half transparency beside them."""
    pixels = np.dstack([photo_array("chelsea"), np.full((300, 451), 255, np.uint8)])
    pixels[:, :150] = (*colour, 0)
    pixels[:, 150, 3] = 128
    img = Image.fromarray(pixels, "RGBA")
    return encode(img, "PNG")


def test_what_lies_under_full_transparency_is_decoded_as_white():
    black, white = hiding((0, 0, 0)), hiding((255, 255, 255))
    pixels = np.asarray(decode(black))
    assert np.array_equal(pixels, np.asarray(decode(white)))
    stored = np.asarray(Image.open(io.BytesIO(black)))
    hidden = stored[..., 3] == 0
    assert hidden.mean() > 0.3 and (pixels[hidden] == (255, 255, 255, 0)).all()
    assert np.array_equal(pixels[~hidden], stored[~hidden])  # the rest keeps its colour


def test_the_real_model_makes_one_mask_of_two_files_that_look_alike(engine):
    black = cutout(engine, hiding((0, 0, 0)), output="mask")
    white = cutout(engine, hiding((255, 255, 255)), output="mask")
    assert black.data == white.data


def _remove(app, **form) -> np.ndarray:
    script = ApiClient(app.test_client())
    answer = script.http.post("/api/v1/remove", headers=script.headers(),
                              content_type="multipart/form-data", data=form)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return np.asarray(Image.open(io.BytesIO(answer.data)).convert("RGB"), int)


@pytest.mark.usefixtures("fake_engine")
@pytest.mark.parametrize("output", ["blur", "image"])
def test_two_files_that_look_alike_make_one_result(app, output):
    """blur: the photo's own transparent strip (the fake engine keeps the left half, so the
    strip is background); image: a background photo's, mirrored to the right half."""
    def made(hidden):
        if output == "blur":
            return _remove(app, image=(io.BytesIO(hiding(hidden)), "cat.png"), output="blur")
        backdrop = encode(ImageOps.mirror(Image.open(io.BytesIO(hiding(hidden)))), "PNG")
        return _remove(app, image=(io.BytesIO(encode(Image.new("RGB", (451, 300), (9, 9, 9)),
                                                     "PNG")), "plain.png"),
                       output="image", background_image=(io.BytesIO(backdrop), "back.png"))
    black, white = made((0, 0, 0)), made((255, 255, 255))
    assert np.array_equal(black, white)
    if output == "image":
        assert (black[:, 301:] == 255).all()  # the background photo's transparent strip
    else:
        assert black[:, :140].min() > 200  # blurred white, not a flat block of the hidden
