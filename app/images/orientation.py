"""Which way up a photo is shown: its EXIF orientation, read before its pixels, and the turn
that undoes it, so a photo is worked on as its camera meant it to be seen."""

from __future__ import annotations

from PIL import Image

EXIF_ORIENTATION = 0x0112
# Orientations 5-8 turn by 90°, so the width shown is the height stored.
SWAPS_AXES = {5, 6, 7, 8}
# Orientations 2-8 and the turns that undo them, as Pillow's exif_transpose makes them; that
# function also writes the EXIF back, and failed on a tag it could not write (a camera
# maker stored as a number: a 500 at every door, helper 79). A result keeps no EXIF.
UPRIGHT = dict(zip(range(2, 9), (
    Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_180, Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90), strict=True))


def of(img: Image.Image) -> int:
    """The EXIF orientation known before the pixels are read, the same for the check and the
    decode: a PNG's eXIf after its pixels is left out (Pillow finds it only by decoding)."""
    png_without = img.format == "PNG" and "exif" not in img.info
    return 1 if png_without else img.getexif().get(EXIF_ORIENTATION, 1)


def upright(img: Image.Image, orientation: int) -> Image.Image:
    """`img` turned as its `orientation` says it is shown, its EXIF (which would turn it
    again) left behind."""
    if orientation not in UPRIGHT:
        return img
    turned = img.transpose(UPRIGHT[orientation])
    turned.info.pop("exif", None)
    return turned
