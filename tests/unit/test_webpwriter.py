"""The WebP writer for transparent results: every file decoded by an independent decoder
(Pillow's libwebp), its alpha exact and its colours libwebp's own lossy ones."""

import io
import struct
import weakref

import numpy as np
import pytest
from PIL import Image

from app.images import webpwriter


def written(pixels: np.ndarray, quality: int = 90, method: int = 3) -> bytes:
    height, width = pixels.shape[:2]
    return webpwriter.encode(height, width, lambda top, bottom: pixels[top:bottom],
                             quality, method)


def rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.mode) == ("WEBP", "RGBA")
        return np.asarray(img.convert("RGBA"))


@pytest.mark.parametrize("height, width", [(1, 1), (1, 7), (7, 1), (3, 5), (301, 451),
                                           (2, 16383)])
def test_random_alpha_comes_back_exact(height, width):
    # Random values leave no run for the filter to hide a wrong predictor in: the first
    # value, the first row's and the first column's are each predicted differently.
    pixels = np.random.default_rng(height * width).integers(0, 256, (height, width, 4),
                                                            dtype=np.uint8)
    back = rgba(written(pixels))
    assert back.shape == pixels.shape
    assert np.array_equal(back[..., 3], pixels[..., 3])


def test_the_colours_are_libwebps_own_lossy_encode_of_them():
    rng = np.random.default_rng(7)
    pixels = np.zeros((120, 160, 4), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 200, 40, 90  # far from grey: no swap hides
    pixels[..., :3] += rng.integers(0, 20, (120, 160, 3), dtype=np.uint8)
    pixels[..., 3] = np.linspace(0, 255, 160).astype(np.uint8)
    opaque = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(opaque, "WEBP", quality=75,
                                                               method=2)
    with Image.open(opaque) as img:
        expected = np.asarray(img.convert("RGB"))
    back = rgba(written(pixels, quality=75, method=2))
    assert np.array_equal(back[..., :3], expected)
    # The noise is smoothed away, the colour kept: each channel's mean, in its own place.
    assert np.abs(back[..., :3].mean(axis=(0, 1)) - (209.5, 49.5, 99.5)).max() < 2


def test_the_container_says_its_size_alpha_and_chunks_in_order():
    pixels = np.full((31, 45, 4), 128, np.uint8)
    data = written(pixels)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    names, at = [], 12
    while at < len(data):
        size = struct.unpack_from("<I", data, at + 4)[0]
        names.append(data[at:at + 4])
        if names[-1] == b"VP8X":
            flags, = struct.unpack_from("<B", data, at + 8)
            width = int.from_bytes(data[at + 12:at + 15], "little") + 1
            height = int.from_bytes(data[at + 15:at + 18], "little") + 1
            assert (flags, width, height) == (0x10, 45, 31)
        if names[-1] == b"ALPH":
            assert data[at + 8] == 0b1001  # vertical filter, lossless
        at += 8 + size + size % 2
    assert names == [b"VP8X", b"ALPH", b"VP8 "] and at == len(data)


def test_the_alpha_is_compressed_at_least_effort_once_the_colours_are_let_go(monkeypatch):
    """Effort 0 is the point (efforts 1-3 took 0.9 s of a 12 MP alpha); the colours' picture
    is let go before it, so the two encoders' memory never adds up."""
    calls, saved = [], webpwriter._saved
    pictures = []
    real_new = webpwriter.Image.new

    def new(*args, **kwargs):
        pictures.append(weakref.ref(image := real_new(*args, **kwargs)))
        return image

    def spying(image, **options):
        calls.append((options, pictures[0]() is None))  # the first made is the picture
        return saved(image, **options)

    monkeypatch.setattr(webpwriter.Image, "new", new)
    monkeypatch.setattr(webpwriter, "_saved", spying)
    written(np.zeros((8, 8, 4), np.uint8), quality=75, method=2)
    assert calls == [({"quality": 75, "method": 2}, False),
                     ({"lossless": True, "quality": 0, "method": 0}, True)]


def test_smaller_alpha_than_unfiltered_at_the_same_effort():
    # A soft-edged disc, as a cutout's alpha is: the filter is what keeps effort 0 small.
    y, x = np.mgrid[:400, :600]
    alpha = np.clip((150 - np.hypot(x - 300, y - 200)) * 8, 0, 255).astype(np.uint8)
    pixels = np.dstack([np.full((400, 600, 3), 90, np.uint8), alpha])
    unfiltered = io.BytesIO()
    Image.fromarray(alpha).save(unfiltered, "WEBP", lossless=True, quality=0, method=0)
    stream = webpwriter._alpha_stream(alpha)
    assert len(stream) < 0.8 * len(unfiltered.getvalue())
    assert np.array_equal(rgba(written(pixels))[..., 3], alpha)
