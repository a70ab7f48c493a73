"""Small WebP renditions for the gallery, so a page never fetches a full-size photo or PNG.

The page shows each image in a 160 px box (10rem); 320 px serves screens of twice that
density (`srcset`). A result's rendition is composed by the one compositor at that size, so
it looks exactly like the result (crop, colour, mask) and keeps its transparency.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from app.images.compose import encoded, picture
from app.images.decoding import Photo, decode
from app.images.outputs import IMAGE_KINDS, EncodedImage, ResultOptions
from app.images.resample import fitted

SIZES = (160, 320)  # longest side, in pixels
QUALITY = 80
# libwebp's effort (0-6): at 320 px, 4 took 12 ms, 2 took 7 ms for 3.5% more bytes. 0 took
# 4 ms, but its colour strays by up to 21 of 255 in flat, saturated areas next to the
# subject (a blue backdrop, tests/system/test_browser_features.py), where 2 stays within
# 10 (1: 14).
METHOD = 2
# A result's transparency, quantised by libwebp to 176 levels (0 and 255 stay exact, every
# other level within one of 255): lossless, it was half the encode of a result's
# rendition, and a 320 px picture cannot show one level (bench/rendition_alpha.py).
ALPHA_QUALITY = 90
# A result is composed at the largest rendition's size, and the smaller ones are scaled from
# it: composing at twice that and reducing cost 3x the time at 1 MP for no visible
# difference (bench/renditions.py). A crop's box is known only once composed, so its
# subject gets twice that: the rendition is then reduced to fit, never enlarged.
_WORKING_SIZE = max(SIZES)
_CROP_WORKING_SIZE = 2 * _WORKING_SIZE
# Of the model's mask, what counts as subject when guessing how far a crop will zoom in.
_SUBJECT = 16


def scaled(img: Image.Image, size: int, target: tuple[int, int] | None = None) -> Image.Image:
    """At most `size` pixels on the longest side (never enlarged); or `target` exactly."""
    target = target or fitted(*img.size, size)
    if target == img.size:
        return img
    # reducing_gap: a cheap integer reduction first, then a small LANCZOS step.
    return img.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


def encode(img: Image.Image) -> EncodedImage:
    data = encoded(img, "WEBP", quality=QUALITY, method=METHOD,
                   alpha_quality=ALPHA_QUALITY)
    return EncodedImage(data, "image/webp", img.width, img.height)


def of_result(photo: Photo | Image.Image, mask: Image.Image, look: ResultOptions,
              backdrop: Photo | Image.Image | None = None,
              kinds: tuple[str, ...] = IMAGE_KINDS) -> dict:
    """{"original": {size: EncodedImage}, "processed": {size: EncodedImage}}: renditions of the
    photo, and of the result `look` makes of it (over `backdrop` for output `image`); only
    the `kinds` asked for (an edit keeps the original's).

    Made from what is small already: a `Photo`'s full decode reduced by the largest
    factor that still covers the renditions (a 12 MP photo by 8: 500×375, in 8 ms where
    LANCZOS took ~150), and the mask at the size it has (the model's: 320×320), scaled to
    that working size, never to the photo's."""
    work = _small(photo, _working_size(photo, mask, look))
    # Sizes are fitted to the full-size image's, as the result itself is (a crop's, not
    # known at full size here, to the working one's).
    whole = (photo.info.width, photo.info.height) if isinstance(photo, Photo) else photo.size
    made = {}
    if "original" in kinds:
        made["original"] = _renditions(work, whole)
    if "processed" in kinds:
        if isinstance(backdrop, Photo):  # enough to cover the result without enlarging it
            long, short = (max(backdrop.info.width, backdrop.info.height),
                           min(backdrop.info.width, backdrop.info.height))
            backdrop = _small(backdrop, math.ceil(max(work.size) * long / max(short, 1)))
        result = picture(work, mask, look, backdrop)
        made["processed"] = _renditions(result, result.size if look.crop else whole)
    return made


def _renditions(img: Image.Image, whole: tuple[int, int]) -> dict[int, EncodedImage]:
    """Each size scaled from the next larger one (the 160 px from the 320 px: a 2x LANCZOS
    step on 0.08 MP instead of a 6x one on the working image, which at 1 MP was most of a
    rendition's time; bench/renditions.py compares the pixels)."""
    made = {}
    for size in sorted(SIZES, reverse=True):
        # Each size is the whole image's fit, not the larger rendition's nor the working
        # image's: rounding twice could leave a row less than the result has at that scale.
        img = scaled(img, size, fitted(*whole, size))
        made[size] = encode(img)
    return made


def _small(photo: Photo | Image.Image, longest: int) -> Image.Image:
    """`photo` with its longest side `longest`: a `Photo` reduced by an integer factor,
    then scaled down by LANCZOS, so that nothing after works on more pixels than the
    renditions need."""
    img = photo.at_least(longest) if isinstance(photo, Photo) else photo
    return scaled(img, longest)


def _working_size(photo: Photo | Image.Image, mask: Image.Image, look: ResultOptions) -> int:
    """The photo's longest side to compose at: `_WORKING_SIZE`; when `look` crops, enough
    that the subject alone is `_CROP_WORKING_SIZE` on its longest side."""
    if not look.crop:
        return _WORKING_SIZE
    width, height = ((photo.info.width, photo.info.height) if isinstance(photo, Photo)
                     else photo.size)
    rows, cols = (np.flatnonzero(np.asarray(mask).max(axis=axis) > _SUBJECT) for axis in (1, 0))
    if rows.size == 0:
        return _WORKING_SIZE
    # The subject's share of the photo's longer side, from the mask (a pixel of margin for
    # the mask's own coarseness; the crop margin only makes the result larger).
    extent = max((cols[-1] - cols[0] + 2) / mask.width * width,
                 (rows[-1] - rows[0] + 2) / mask.height * height)
    return min(max(width, height),
               math.ceil(_CROP_WORKING_SIZE * max(width, height) / extent))


def of_stored(data: bytes) -> dict[int, EncodedImage]:
    """Renditions of an image already stored (records made before renditions existed)."""
    work = decode(data, reduce_by=8, at_least=_WORKING_SIZE)
    return {size: encode(scaled(work, size)) for size in SIZES}
