"""Pillow's `resize`, made one band of rows at a time, with exactly Pillow's pixels.

A full-size backdrop, blur or coefficient map of a 50 MP result is 150-200 MB; made band by
band as the PNG writer asks for rows, it is a few MB. Asking Pillow for a band with a `box`
does not give the same pixels: the filter's centres are computed from the box in floating
point, so they move by an ulp and a few values change. So Pillow still does the horizontal
pass (each row on its own, identical whatever the band), and the vertical pass is Pillow's
own arithmetic (libImaging/Resample.c: `precompute_coeffs`, the 8-bit fixed-point and the
float passes) in numpy, on the few source rows each band needs. tests/unit/test_resample.py
holds it to Pillow's full-size result, pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

_PRECISION_BITS = 22  # Resample.c: 32 - 8 bits of result - 2 bits for overflow
# Rows of a reduction's horizontal pass made at once: a few MB of a 50 MP photo.
_REDUCE_ROWS = 128
_BAND_BYTES = 4 * 1024 * 1024
# From this many pixels, a pass over a whole photo is split over two threads: the model's
# input at 1 MP took 7 ms on two against 10 on one, but under load (bench/server.py, 1 MP)
# that cost more in throughput than it saved (0.77 of the ceiling against 0.80).
SPLIT_PIXELS = 4_000_000


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _bilinear(x: float) -> float:
    return max(0.0, 1.0 - abs(x))


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


# math.sin is the C library's sin, as Pillow's; numpy's vectorised sin may differ by an ulp.
_FILTERS = {Image.Resampling.BILINEAR: (_bilinear, 1.0), Image.Resampling.LANCZOS: (_lanczos, 3.0)}


def _coefficients(in_size: int, in0: float, in1: float, out_size: int, resample):
    """Pillow's precompute_coeffs: the first source row and the weights of each output row."""
    function, filter_support = _FILTERS[resample]
    in0, in1 = np.float32(in0), np.float32(in1)  # Pillow takes the box as C floats
    scale = float(np.float32(in1 - in0)) / out_size
    filterscale = max(scale, 1.0)
    support = filter_support * filterscale
    ksize = math.ceil(support) * 2 + 1
    first = np.zeros(out_size, np.intp)
    weights = np.zeros((out_size, ksize), np.float64)
    for xx in range(out_size):
        center = float(in0) + (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - xmin
        k = [function((x + xmin - center + 0.5) * (1.0 / filterscale)) for x in range(count)]
        total = 0.0  # summed in order, as Pillow's C does (from Python 3.12, sum() does not)
        for w in k:
            total += w
        if total != 0.0:
            k = [w / total for w in k]
        first[xx], weights[xx, :count] = xmin, k
    return first, weights


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled to at most `size` pixels on the longest side (never up)."""
    ratio = min(1.0, size / max(width, height))
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def working_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The size refined edges are worked at: `size` scaled down (never up) to `longest` px
    on its longer side; a photo more than 4 times as long as it is wide, to the area of
    `longest` × `longest` / 4 instead. Fitted by its longer side, a 65,500 × 762 photo was
    matted at 480 × 6 and 240 × 3, where no pixel is sure: 89% of the refined matte came
    out see-through (helper 87); now 26% (the model's mask: 11%)."""
    by_side = max(size) / longest
    by_area = math.sqrt(4 * size[0] * size[1]) / longest
    scale = max(1.0, min(by_side, by_area))
    return max(1, round(size[0] / scale)), max(1, round(size[1] / scale))


class Resampler:
    """`image.resize(size, resample, box, reducing_gap)` as rows(top, bottom) of uint8 (L,
    RGB) or float32 (F) pixels, for BILINEAR and LANCZOS."""

    def __init__(self, image: Image.Image, size: tuple[int, int], resample,
                 box: tuple[float, float, float, float] | None = None,
                 reducing_gap: float | None = None, mode: str | None = None):
        """`mode`: the mode to resample in, when `image` is in another (a background in
        RGBA, L or P): each band of source rows is converted as it is read, as
        `image.convert(mode).resize(...)` would give, without a whole converted copy."""
        self.mode = mode or image.mode
        if self.mode not in ("L", "RGB", "F"):
            raise ValueError(f"cannot resample {self.mode} in bands")
        box = box or (0, 0, *image.size)
        if reducing_gap is not None:  # Image.resize's own first step, on the whole image
            fx = int((box[2] - box[0]) / size[0] / reducing_gap) or 1
            fy = int((box[3] - box[1]) / size[1] / reducing_gap) or 1
            if fx > 1 or fy > 1:
                reduce_box = image._get_safe_box(size, resample, box)
                image = self._reduced(image, (fx, fy), reduce_box)
                box = ((box[0] - reduce_box[0]) / fx, (box[1] - reduce_box[1]) / fy,
                       (box[2] - reduce_box[0]) / fx, (box[3] - reduce_box[1]) / fy)
        self.image, self.size, self.resample, self.box = image, size, resample, box
        width, height = size
        f32 = [float(np.float32(v)) for v in box]
        self.horizontal = (width != image.width or f32[0] != 0 or f32[2] != width)
        self.vertical = (height != image.height or f32[1] != 0 or f32[3] != height)
        # Pillow's other order, for an image over 100 times taller than wide made shorter:
        # down first (on the narrow source rows), then across. Done here band by band too:
        # made whole, a 60×10000 background covering 7000×7000 was a 147 MB array.
        self.tall = image.height > image.width * 100 and height < image.height
        if self.vertical:
            self.first, weights = _coefficients(image.height, box[1], box[3], height, resample)
            if self.mode == "F":
                self.weights = weights
            else:  # normalize_coeffs_8bpc
                scaled = weights * (1 << _PRECISION_BITS)
                self.weights = np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5)
                                        ).astype(np.int32)

    def _reduced(self, image: Image.Image, factor: tuple[int, int],
                 box: tuple[int, int, int, int]) -> Image.Image:
        """`image.convert(mode).reduce(factor, box)` from bands of whole blocks of rows: a
        block's mean does not depend on the band, so the pixels are the same."""
        step = factor[1] * max(1, _REDUCE_ROWS // factor[1])
        out = None
        for top in range(box[1], box[3], step):
            band = self._band(image, (box[0], top, box[2], min(box[3], top + step)))
            band = band.reduce(factor)
            if out is None:
                out = Image.new(band.mode, (band.width, -(-(box[3] - box[1]) // factor[1])))
            out.paste(band, (0, (top - box[1]) // factor[1]))
        return out

    def _band(self, image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        band = image.crop(box)
        return band if band.mode == self.mode else band.convert(self.mode)

    def rows(self, top: int, bottom: int) -> np.ndarray:
        if not self.vertical:
            return np.array(self._horizontal(top, bottom))  # writable, as the others
        if self.tall:
            down = Image.fromarray(self._vertical(top, bottom, self._source))
            return np.array(self._across(down))
        return self._vertical(top, bottom, self._horizontal)

    def _vertical(self, top: int, bottom: int,
                  source_rows: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """Pillow's vertical pass for output rows top..bottom, on `source_rows`."""
        first, weights = self.first[top:bottom], self.weights[top:bottom]
        lo = int(first.min())
        hi = int((first + weights.shape[1]).max())
        source = source_rows(lo, min(hi, self.image.height))
        last = source.shape[0] - 1
        shape = (bottom - top,) + (1,) * (source.ndim - 1)
        if self.mode == "F":
            out = np.zeros((bottom - top, *source.shape[1:]), np.float64)
        else:
            out = np.full((bottom - top, *source.shape[1:]), 1 << (_PRECISION_BITS - 1),
                          np.int32)
        for j in range(weights.shape[1]):
            # Rows past a window's end weigh 0: the index is clamped, the sum unchanged.
            out += source[np.minimum(first - lo + j, last)] * weights[:, j].reshape(shape)
        if self.mode == "F":
            return out.astype(np.float32)
        out >>= _PRECISION_BITS
        return np.clip(out, 0, 255).astype(np.uint8)

    def _source(self, top: int, bottom: int) -> np.ndarray:
        return np.asarray(self._band(self.image, (0, top, self.image.width, bottom)))

    def _horizontal(self, top: int, bottom: int) -> np.ndarray:
        """Source rows top..bottom, resampled across: Pillow's first pass."""
        band = self._band(self.image, (0, top, self.image.width, bottom))
        return np.asarray(self._across(band))

    def _across(self, band: Image.Image) -> Image.Image:
        if not self.horizontal:
            return band
        return band.resize((self.size[0], band.height), self.resample,
                           box=(self.box[0], 0, self.box[2], band.height))


def across_threads(image: Image.Image, size: tuple[int, int], resample, pool) -> Image.Image:
    """`image.resize(size, resample)` with its first pass (across: most of the work when a
    large image is made small) split by bands of rows over `pool`'s threads, which must not
    be the caller's own (it waits for them). The pixels are Pillow's own: a row is
    resampled across on its own, and the 8-bit rows are what its second pass (down) reads
    in one call too. Not for RGBA (Pillow premultiplies it around both passes) nor an image
    over 100 times taller than wide (Pillow goes down first)."""
    if (image.mode not in ("RGB", "L") or size[0] == image.width or image.height < 2
            or image.height > image.width * 100):
        return image.resize(size, resample)
    image.load()  # once, here: two threads loading a lazy image at once broke its decoding
    bands = _bands(image)

    def across(band: tuple[int, int]) -> Image.Image:
        top, bottom = band
        return image.crop((0, top, image.width, bottom)).resize((size[0], bottom - top),
                                                                 resample)

    narrow = Image.new(image.mode, (size[0], image.height))
    for (top, _), made in zip(bands, pool.map(across, bands), strict=True):
        narrow.paste(made, (0, top))
    return narrow.resize(size, resample)


def in_place_by_bands(image: Image.Image, work: Callable[[Image.Image], None], pool) -> None:
    """`work`, which changes an image in place, done to bands of `image`'s rows over
    `pool`'s threads (not the caller's own), each band pasted back."""
    image.load()

    def one(band: tuple[int, int]) -> Image.Image:
        part = image.crop((0, band[0], image.width, band[1]))
        work(part)
        return part

    bands = _bands(image)
    for (top, _), part in zip(bands, pool.map(one, bands), strict=True):
        image.paste(part, (0, top))


def _bands(image: Image.Image) -> list[tuple[int, int]]:
    """Halves, or bands of a few MB if smaller: a crop is a copy (4 bytes a pixel), and half
    a 50 MP photo would be 100 MB more at the peak."""
    rows = min(-(-image.height // 2), max(1, _BAND_BYTES // (4 * image.width)))
    return [(top, min(image.height, top + rows)) for top in range(0, image.height, rows)]


def box_reduced(rows: Callable[[int, int], np.ndarray], size: tuple[int, int],
                small: tuple[int, int]) -> Image.Image:
    """What `Image.fromarray(whole).resize(small, BOX)` gives for the 8-bit image (width,
    height) = `size` whose rows `rows(top, bottom)` makes, without the whole image: Pillow's
    horizontal pass band by band, then its vertical pass on the narrow result."""
    width, height = size
    narrow = None
    for top in range(0, height, _REDUCE_ROWS):
        bottom = min(height, top + _REDUCE_ROWS)
        band = Image.fromarray(rows(top, bottom))
        if small[0] != width:
            band = band.resize((small[0], bottom - top), Image.Resampling.BOX)
        if narrow is None:
            narrow = Image.new(band.mode, (small[0], height))
        narrow.paste(band, (0, top))
    return narrow.resize(small, Image.Resampling.BOX)
