"""The blurred background, to the pixel: each background pixel is the mean of the
background near it, never of the subject (a blur of the whole photo would lay a halo of the
subject's colour around it)."""

import io

import numpy as np
import pytest
from PIL import Image

from app.core.forms import OutputOptions
from app.images import compose
from app.images.compose import render

RED, BLUE = (200, 30, 40), (20, 60, 220)


def halves(width: int, height: int, split: int):
    """A photo red left of `split` and blue right of it, and a mask keeping the red."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:, :split], pixels[:, split:] = RED, BLUE
    mask = np.zeros((height, width), np.uint8)
    mask[:, :split] = 255
    return Image.fromarray(pixels), Image.fromarray(mask)


@pytest.mark.parametrize("size", [(64, 40), (600, 200)])  # made at full size, and scaled
def test_the_blur_behind_the_subject_is_the_background_alone(size):
    width, height = size
    photo, mask = halves(width, height, width // 2)
    result = render(photo, mask, OutputOptions(output="blur"))
    pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    assert (pixels[:, : width // 2] == RED).all()  # the subject, untouched
    # Right next to the subject too: blue, not a blend with the red subject.
    assert (pixels[:, width // 2:] == BLUE).all()


def test_the_colours_are_cleaned_once_a_row_under_a_blur(monkeypatch):
    """The blur is made from the photo's own rows: cleaning the soft pixels' colours for it
    as well cost a second pass over every row."""
    cleaned = []
    despill_rows = compose.despill_rows

    def counting(*args, **kwargs):
        rows = despill_rows(*args, **kwargs)

        def counted(top, bottom, left, right, rgb):
            cleaned.append(bottom - top)
            return rows(top, bottom, left, right, rgb)
        return counted

    monkeypatch.setattr(compose, "despill_rows", counting)
    photo, mask = halves(600, 200, 300)
    render(photo, mask, OutputOptions(output="blur", refine_edges=True))
    assert sum(cleaned) == 200
