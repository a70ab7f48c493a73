"""The one compositor: every result (transparent, over a colour, a photo or the photo's own
blurred background, the mask alone; cropped or not; PNG, WebP or JPEG) is made here from the
full-size photo and the engine's mask, whichever engine made the mask."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageColor

from app.images import pngwriter, webpwriter, zipped
from app.images.backdrops import blurred_background, covering
from app.images.matting import matte_rows
from app.images.outputs import REMOVAL_FORMATS, EncodedImage, ResultOptions, check_fits
from app.images.refine import WORK_SIZE, despill_rows, reduced_photo
from app.images.resample import working_size

# Alpha at or below this is treated as background when finding the subject to crop to:
# the soft edge of a mask leaves faint haze far from the subject.
_CROP_THRESHOLD = 16
WEBP_QUALITY = 90
# libwebp's effort: at 4 (its default) the encoder held 530 MiB more for a 50 MP result,
# which took a worker past its budget (1,535 MiB against 1.4 GB, helper 76); at 3, 60 MiB,
# 20% faster, for files 3-5% larger (docs/scaling.md).
WEBP_METHOD = 3
JPEG_QUALITY = 90


def render(photo: Image.Image, mask: Image.Image, look: ResultOptions,
           backdrop: Image.Image | None = None) -> EncodedImage:
    """The result `look` asks for, encoded, from a full-size RGB(A) photo and its mask (an
    L image of any size), over `backdrop` for output `image`. Rows are made band by band
    as the PNG writer compresses them."""
    height, width, channels, rows = _result(photo, mask, look, backdrop)
    check_fits(look.format, width, height)  # a crop's size is known only now
    if look.format == "webp" and channels == 4:
        data = webpwriter.encode(height, width, rows, WEBP_QUALITY, WEBP_METHOD)
    elif look.format == "webp":
        data = encoded(_whole(height, width, channels, rows), "WEBP",
                       lossless=look.output == "mask", quality=WEBP_QUALITY,
                       alpha_quality=100, method=WEBP_METHOD)
    elif look.format == "jpeg":
        # Huffman tables not optimised: that pass holds every coefficient of the image
        # (3 bytes a pixel: 150 MB at 50 MP) for files 2% smaller (docs/scaling.md).
        data = encoded(_whole(height, width, channels, rows), "JPEG", quality=JPEG_QUALITY)
    elif look.format == "zip":
        data = zipped.encode(height, width, channels, rows, JPEG_QUALITY)
    else:
        data = pngwriter.encode_rows(height, width, channels, rows)
    return EncodedImage(data, REMOVAL_FORMATS[look.format], width, height)


def picture(photo: Image.Image, mask: Image.Image, look: ResultOptions,
            backdrop: Image.Image | None = None) -> Image.Image:
    """The same result as a Pillow image (to scale down, say)."""
    return _whole(*_result(photo, mask, look, backdrop))


def _result(photo: Image.Image, mask: Image.Image, look: ResultOptions,
            backdrop: Image.Image | None):
    """(height, width, channels, rows(top, bottom) -> the result's pixels in those rows).

    Nothing of the result's size is made whole but the matte (one byte a pixel): the
    photo's rows are read, refined, cleaned and laid over the backdrop band by band, so
    the memory a result needs beyond its photo and backdrop is about 1-2 bytes a pixel
    (bench/memory.py, docs/scaling.md)."""
    # The mask scaled to the photo (bilinear: measured as good as LANCZOS for a mask, at a
    # fraction of the cost), keeping what was already transparent in the upload transparent.
    alpha = mask if mask.size == photo.size else mask.resize(photo.size,
                                                             Image.Resampling.BILINEAR)
    if photo.mode == "RGBA":
        alpha = ImageChops.darker(alpha, photo.getchannel("A"))
    full_w, full_h = photo.size

    def photo_rows(top: int, bottom: int, left: int = 0, right: int = full_w) -> np.ndarray:
        return np.asarray(photo.crop((left, top, right, bottom)))[..., :3]

    if look.refine_edges:
        guide = reduced_photo(photo, working_size(photo.size, WORK_SIZE))
        edges = matte_rows(photo, alpha, guide)
        del alpha  # the refined matte replaces it
        matte = np.empty((full_h, full_w), np.uint8)

        def refine_band(band: tuple[int, int]) -> None:
            matte[band[0]:band[1]] = edges(*band, photo_rows(*band))

        list(pngwriter.POOL.map(refine_band, pngwriter.bands_of(full_h, full_w * 4)))
        despill = despill_rows(photo, matte, image=guide)
        rgb_rows = lambda t, b, left, right: despill(t, b, left, right,  # noqa: E731
                                                     photo_rows(t, b, left, right))
    else:
        matte = np.asarray(alpha)
        del alpha
        rgb_rows = photo_rows
    top, bottom, left, right = (_subject_box(matte, look.crop_margin) if look.crop
                                else (0, full_h, 0, full_w))
    height, width = bottom - top, right - left
    matte = matte[top:bottom, left:right]

    def rgb(t: int, b: int) -> np.ndarray:
        return rgb_rows(top + t, top + b, left, right)

    if look.output == "mask":
        return height, width, 1, lambda t, b: matte[t:b]
    if look.output == "transparent":
        return height, width, 4, lambda t, b: _with_alpha(rgb(t, b), matte[t:b])
    if look.output == "color":
        colour = np.array(ImageColor.getrgb(look.background), np.uint16)
        return height, width, 3, lambda t, b: _over(rgb(t, b), matte[t:b], colour)
    if look.output == "image":
        behind = covering(backdrop, (width, height))
    else:  # blur
        # From the photo's own rows, not the cleaned ones: each row's colours are cleaned
        # once (for the subject laid over it), and the blur weighs a soft pixel by its
        # background share (1 - alpha), which the photo's colour holds and the cleaned one
        # has had taken out.
        behind = blurred_background(lambda t, b: photo_rows(top + t, top + b, left, right),
                                    lambda t, b: matte[t:b], (width, height))
    return height, width, 3, lambda t, b: _over(rgb(t, b), matte[t:b], behind.rows(t, b))


def _whole(height: int, width: int, channels: int, rows) -> Image.Image:
    """The result as one Pillow image, filled band by band (for the JPEG and WebP encoders,
    which take a whole image)."""
    whole = Image.new({1: "L", 3: "RGB", 4: "RGBA"}[channels], (width, height))
    for top, bottom in pngwriter.bands_of(height, width * channels):
        whole.paste(Image.fromarray(np.ascontiguousarray(rows(top, bottom))), (0, top))
    return whole


def _with_alpha(rgb: np.ndarray, matte: np.ndarray) -> np.ndarray:
    # Pillow interleaves the channels in C: 2.2 ms of CPU at 1 MP, where numpy's strided
    # copies into a 4-channel array took 5.2 (docs/performance.md).
    pixels = np.array(Image.merge("RGBA", (*Image.fromarray(np.ascontiguousarray(rgb)).split(),
                                           Image.fromarray(matte))))
    # Invisible pixels carry no colour worth keeping; zeros compress to almost nothing.
    # Each pixel seen as one 32-bit word times 0 or 1: about 3× faster than a boolean index.
    words = pixels.view(np.uint32).reshape(matte.shape)
    words *= matte != 0
    return pixels


def _over(rgb: np.ndarray, matte: np.ndarray, behind: np.ndarray) -> np.ndarray:
    """`rgb` laid through the matte over `behind`: one colour, or pixels of the same size."""
    a = matte.astype(np.uint16)[..., np.newaxis]
    return ((rgb * a + behind.astype(np.uint16) * (255 - a) + 127) // 255).astype(np.uint8)


def _subject_box(matte: np.ndarray, margin_percent: int) -> tuple[int, int, int, int]:
    """Rows and columns around the subject plus the margin; the whole image if no subject."""
    height, width = matte.shape
    in_rows, in_cols = np.zeros(height, bool), np.zeros(width, bool)
    # Band by band: a whole boolean copy would be 1 B/px.
    for top, bottom in pngwriter.bands_of(height, width * 8):
        subject = matte[top:bottom] > _CROP_THRESHOLD
        in_rows[top:bottom] = subject.any(axis=1)
        in_cols |= subject.any(axis=0)
    rows, cols = np.flatnonzero(in_rows), np.flatnonzero(in_cols)
    if rows.size == 0:
        return 0, height, 0, width
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    margin = round(max(bottom - top, right - left) * margin_percent / 100)
    # Plain ints: the result's size is stored with the record, and BSON has no numpy types.
    return (int(max(0, top - margin)), int(min(height, bottom + margin)),
            int(max(0, left - margin)), int(min(width, right + margin)))


def encoded(image: Image.Image, file_format: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, file_format, **options)
    return buf.getvalue()
