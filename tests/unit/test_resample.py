"""Band-by-band resizing (app/images/resample.py) gives exactly Pillow's whole-image pixels,
whatever the bands: the compositor relies on it to keep results identical."""

import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from app.images.backdrops import covering
from app.images.pngwriter import POOL, adler32_combine
from app.images.resample import Resampler, across_threads, box_reduced, working_size
from tests.support import photo_array

BILINEAR, LANCZOS = Image.Resampling.BILINEAR, Image.Resampling.LANCZOS


def in_bands(resampler: Resampler, height: int, rows: int) -> np.ndarray:
    return np.concatenate([resampler.rows(top, min(height, top + rows))
                           for top in range(0, height, rows)])


@pytest.fixture(scope="module")
def coffee():
    return Image.fromarray(photo_array("coffee"))  # 600×400


@pytest.mark.parametrize("mode", ["F", "L", "RGB"])
@pytest.mark.parametrize("rows", [1, 7, 64, 1000])
def test_scaling_up_in_bands_is_pillows_scaling_up(mode, rows):
    rng = np.random.default_rng(3)
    if mode == "F":
        small = Image.fromarray(rng.normal(size=(43, 64)).astype(np.float32), "F")
    else:
        shape = (43, 64) if mode == "L" else (43, 64, 3)
        small = Image.fromarray((rng.random(shape) * 255).astype(np.uint8), mode)
    whole = np.asarray(small.resize((1031, 707), BILINEAR))
    got = in_bands(Resampler(small, (1031, 707), BILINEAR), 707, rows)
    assert got.dtype == whole.dtype and np.array_equal(got, whole)


@pytest.mark.parametrize("size, box", [
    ((300, 200), (50.5, 10.25, 550.5, 343.6)),  # reduced first (reducing_gap), then LANCZOS
    ((600, 400), (0, 0, 600, 400)),  # nothing to do: the photo's own rows
    ((900, 350), (0, 62.5, 600, 295.8)),  # enlarged across, cropped down
    ((123, 457), (205.1, 0, 314.9, 400)),
])
def test_covering_in_bands_is_pillows_resize(coffee, size, box):
    whole = np.asarray(coffee.resize(size, LANCZOS, box=box, reducing_gap=2.0))
    got = in_bands(Resampler(coffee, size, LANCZOS, box=box, reducing_gap=2.0), size[1], 37)
    assert np.array_equal(got, whole)


def test_a_box_reduction_from_rows_is_pillows(coffee):
    pixels = np.asarray(coffee)[:, 13:590]
    got = box_reduced(lambda top, bottom: pixels[top:bottom], (577, 400), (97, 61))
    whole = Image.fromarray(np.ascontiguousarray(pixels)).resize((97, 61), Image.Resampling.BOX)
    assert np.array_equal(np.asarray(got), np.asarray(whole))


def test_rows_are_fresh_arrays_the_caller_may_change(coffee):
    same = Resampler(coffee.convert("L"), coffee.size, BILINEAR)
    band = same.rows(0, 10)
    band += 1  # no error: writable
    assert np.array_equal(same.rows(0, 10), np.asarray(coffee.convert("L"))[:10])


def test_only_the_modes_it_reproduces():
    with pytest.raises(ValueError, match="RGBA"):
        Resampler(Image.new("RGBA", (4, 4)), (8, 8), BILINEAR)


@pytest.mark.parametrize("lengths", [(0, 0), (1, 5), (5552, 65521 * 2 + 7), (100_000, 1)])
def test_band_checksums_combine_into_the_whole_ones(lengths):
    rng = np.random.default_rng(lengths[0])
    first, second = (rng.integers(0, 256, n, np.uint8).tobytes() for n in lengths)
    assert (adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
            == zlib.adler32(first + second))


@pytest.mark.parametrize("mode", ["F", "L", "RGB"])
@pytest.mark.parametrize("size, box", [
    ((3, 50), None),  # Pillow's other order: down first, then across
    ((300, 200), (1.5, 100.25, 4.5, 103.75)),  # a tall photo covering a wide result
])
def test_a_tall_thin_image_in_bands_is_pillows_resize(mode, size, box):
    rng = np.random.default_rng(5)
    if mode == "F":
        tall = Image.fromarray(rng.normal(size=(700, 6)).astype(np.float32), "F")
    else:
        shape = (700, 6) if mode == "L" else (700, 6, 3)
        tall = Image.fromarray((rng.random(shape) * 255).astype(np.uint8), mode)
    whole = np.asarray(tall.resize(size, LANCZOS, box=box, reducing_gap=2.0))
    got = in_bands(Resampler(tall, size, LANCZOS, box=box, reducing_gap=2.0), size[1], 37)
    assert got.dtype == whole.dtype and np.array_equal(got, whole)


def test_a_tall_thin_background_is_made_band_by_band_too():
    """Before, Pillow's other order was made whole: a 147 MB array from a 0.6 MP picture."""
    tracemalloc.start()
    try:
        band = covering(Image.new("RGB", (60, 10000), (10, 20, 30)), (7000, 7000)).rows(0, 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert band.shape == (64, 7000, 3) and (band == (10, 20, 30)).all()
    assert peak < 8_000_000, f"{peak >> 20} MiB"


@pytest.mark.parametrize("mode", ["RGBA", "L", "P"])
@pytest.mark.parametrize("size", [(300, 200), (90, 50)])  # reduced first at (90, 50)
def test_a_background_in_another_mode_is_converted_band_by_band(coffee, mode, size,
                                                                monkeypatch):
    backdrop = coffee.convert(mode)
    expected = covering(backdrop.convert("RGB"), size).rows(0, size[1])
    converted = []
    convert = Image.Image.convert

    def spy(image, *args, **kwargs):
        converted.append(image.height)
        return convert(image, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "convert", spy)
    assert np.array_equal(in_bands(covering(backdrop, size), size[1], 37), expected)
    assert converted and max(converted) < coffee.height  # never the whole background


class CountingPool:
    """POOL, counting the bands handed to it."""

    def __init__(self):
        self.tasks = 0

    def map(self, fn, items):
        items = list(items)
        self.tasks += len(items)
        return POOL.map(fn, items)


# (rows, columns) of the image, (width, height) made, bands handed to the pool (0: Pillow's
# own resize, for what the split cannot give exactly)
@pytest.mark.parametrize("shape, size, split", [
    ((3001, 4001), (320, 320), 12),  # a photo to the model's input: 4 MB bands, one short
    ((864, 1152), (320, 320), 2), ((129, 900), (320, 1), 2), ((2, 900), (320, 320), 2),
    ((400, 300), (320, 320), 2),  # taller than wide, made wider and shorter
    ((300, 400), (200, 300), 2),  # as tall as it was
    ((300, 400), (200, 600), 2),  # made taller
    ((1, 900), (320, 320), 0), ((300, 400), (400, 100), 0),  # one row; as wide as it was
    ((800, 8), (4, 4), 2),  # 100 times taller: still across first
    ((808, 8), (4, 4), 0),  # over 100 times taller: Pillow goes down first
])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("resample", [LANCZOS, BILINEAR, Image.Resampling.BICUBIC,
                                      Image.Resampling.NEAREST])
def test_across_threads_gives_pillows_pixels(mode, shape, size, split, resample):
    """The model's input is resized on two threads: it must be exactly what rembg's one
    `resize` makes of the same photo, or the masks drift from the reference's. RGBA is
    not split (Pillow premultiplies it around both passes)."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, shape + ((len(mode),) if mode != "L" else ()), np.uint8)
    image = Image.fromarray(pixels, mode)
    pool = CountingPool()
    made = across_threads(image, size, resample, pool)
    assert made.mode == mode and made.size == size
    assert np.array_equal(np.asarray(made), np.asarray(image.resize(size, resample)))
    assert pool.tasks == (0 if mode == "RGBA" else split)


def test_across_threads_loads_a_lazy_image_once(tmp_path):
    """Two threads loading an opened file at once broke its decoding (a truncated or
    broken stream, or wrong pixels)."""
    pixels = np.random.default_rng(4).integers(0, 256, (600, 800, 3), np.uint8)
    path = tmp_path / "p.png"
    Image.fromarray(pixels).save(path)
    for _ in range(5):
        with Image.open(path) as lazy:
            made = across_threads(lazy, (320, 320), LANCZOS, POOL)
        assert np.array_equal(np.asarray(made),
                              np.asarray(Image.fromarray(pixels).resize((320, 320), LANCZOS)))


@pytest.mark.parametrize(("size", "expected"), [
    ((4000, 3000), (640, 480)), ((3000, 4000), (480, 640)),  # by the longer side
    ((2560, 640), (640, 160)), ((640, 2560), (160, 640)),  # exactly 4:1: both rules agree
    ((2561, 640), (640, 160)),  # a pixel longer: by the area (a scale of 4.0008, not 4.0016)
    ((5000, 640), (894, 114)),  # 894 × 114 = 640 × 160 within rounding
    ((65500, 762), (2967, 35)), ((762, 65500), (35, 2967)),
    ((100, 10), (100, 10)), ((600, 40), (600, 40)),  # never enlarged
])
def test_refined_edges_are_worked_at_the_longer_side_or_a_long_photos_area(size, expected):
    assert working_size(size, 640) == expected
