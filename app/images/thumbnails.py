"""Small WebP renditions for the gallery, so a page never fetches a full-size photo or PNG.

The page shows each image in a 160 px box (10rem); 320 px serves screens of twice that
density (`srcset`). A result's rendition is composed by the one compositor at that size, so
it looks exactly like the result (crop, colour, mask) and keeps its transparency.
"""

from __future__ import annotations

import io

from PIL import Image

from app.images.compose import picture
from app.images.decoding import decode
from app.images.outputs import EncodedImage, ResultOptions

SIZES = (160, 320)  # longest side, in pixels
QUALITY = 80
# A result's renditions are composed at this size, then scaled down: big enough that a crop
# to a small subject still fills the largest rendition, small enough to cost ~20 ms.
_WORKING_SIZE = 4 * max(SIZES)


def scaled(img: Image.Image, size: int) -> Image.Image:
    """At most `size` pixels on the longest side (never enlarged)."""
    ratio = min(1.0, size / max(img.size))
    target = (max(1, round(img.width * ratio)), max(1, round(img.height * ratio)))
    if target == img.size:
        return img
    # reducing_gap: a cheap integer reduction first, then a small LANCZOS step.
    return img.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


def encode(img: Image.Image) -> EncodedImage:
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=QUALITY, method=4)
    return EncodedImage(buf.getvalue(), "image/webp", img.width, img.height)


KINDS = ("original", "processed")


def of_result(photo: Image.Image, mask: Image.Image, look: ResultOptions,
              backdrop: Image.Image | None = None, kinds: tuple[str, ...] = KINDS) -> dict:
    """{"original": {size: EncodedImage}, "processed": {size: EncodedImage}}: renditions of the
    photo, and of the result `look` makes of it (over `backdrop` for output `image`); only
    the `kinds` asked for (an edit keeps the original's)."""
    work = scaled(photo, _WORKING_SIZE)
    made = {}
    if "original" in kinds:
        made["original"] = {size: encode(scaled(work, size)) for size in SIZES}
    if "processed" in kinds:
        result = picture(work, mask, look, backdrop)
        made["processed"] = {size: encode(scaled(result, size)) for size in SIZES}
    return made


def of_stored(data: bytes) -> dict[int, EncodedImage]:
    """Renditions of an image already stored (records made before renditions existed)."""
    work = decode(data, reduce_by=8, at_least=_WORKING_SIZE)
    return {size: encode(scaled(work, size)) for size in SIZES}
