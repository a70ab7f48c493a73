"""What a subject can be laid over besides a flat colour: a photo of the visitor's, scaled to
cover the result and centred, or the photo's own background, blurred (portrait mode)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from app.images.matting import box_mean
from app.images.resample import Resampler, box_reduced, fitted

# The blur is made at this size (longer side) and scaled up: a blur this strong hides the
# detail a full-size one would keep, at a small fraction of its cost.
_BLUR_WORK_SIZE = 256
_BLUR_RADIUS = 6  # at the working size: about 2.5% of the picture's longer side
_BLUR_PASSES = 3  # three box blurs are close to a Gaussian


def covering(backdrop: Image.Image, size: tuple[int, int]) -> Resampler:
    """`backdrop` scaled to cover `size` (width, height) and cropped around its centre, as
    CSS's `background-size: cover` does: RGB rows of exactly that size, made band by band
    (the compositor asks for the rows it is writing)."""
    width, height = size
    scale = max(width / backdrop.width, height / backdrop.height)
    scaled_w, scaled_h = max(width, round(backdrop.width * scale)), max(
        height, round(backdrop.height * scale))
    left, top = (scaled_w - width) // 2, (scaled_h - height) // 2
    box = tuple(v / scale for v in (left, top, left + width, top + height))
    # A background in another mode (RGBA, L, P) is converted band by band as it is read:
    # converted whole first, a 50 MP one was a second full-size copy (150 MB).
    return Resampler(backdrop, size, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0,
                     mode="RGB")


def blurred_background(rgb: Callable[[int, int], np.ndarray],
                       matte: Callable[[int, int], np.ndarray],
                       size: tuple[int, int]) -> Resampler:
    """The photo's background, blurred, with the subject left out of the blur (a blur of the
    whole photo would smear the subject into a halo around it): each pixel is the
    background-weighted mean of its neighbourhood. From the photo's and the matte's rows
    (`rgb(top, bottom)`, `matte(top, bottom)`) of the result's `size`; RGB rows on demand."""
    small = fitted(*size, _BLUR_WORK_SIZE)
    colours = np.asarray(box_reduced(rgb, size, small), np.float64)
    weight = 1.0 - np.asarray(box_reduced(matte, size, small), np.float64)[..., None] / 255
    summed, total, plain = colours * weight, weight, colours
    for _ in range(_BLUR_PASSES):
        summed, total, plain = (box_mean(x, _BLUR_RADIUS) for x in (summed, total, plain))
    # Where no background is near (inside a large subject), the plain blur of the photo.
    mean = np.where(total > 1e-3, summed / np.maximum(total, 1e-3), plain)
    small_image = Image.fromarray(np.clip(mean + 0.5, 0, 255).astype(np.uint8))
    return Resampler(small_image, size, Image.Resampling.BILINEAR)
