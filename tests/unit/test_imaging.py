"""Checking uploads and decoding them the right way up."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from app.images.decoding import InvalidImage, decode, probe
from tests.support import encode, photo, photo_array

MAX = 50_000_000


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                       ("WEBP", "image/webp")])
def test_accepted_formats(fmt, mime):
    info = probe(photo(fmt=fmt), MAX)
    assert (info.format, info.content_type, info.width, info.height) == (fmt, mime, 451, 300)


@pytest.mark.parametrize("data, kind, words", [
    (b"", "invalid", "empty"),
    (b"hello world", "unsupported", "JPEG, PNG or WebP"),
    (encode(Image.new("RGB", (8, 8)), "GIF"), "unsupported", "JPEG, PNG or WebP"),
    (encode(Image.new("RGB", (8, 8)), "BMP"), "unsupported", "JPEG, PNG or WebP"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "unsupported", "not an image we can read"),
])
def test_refusals_say_what_is_wrong(data, kind, words):
    with pytest.raises(InvalidImage) as caught:
        probe(data, MAX)
    assert caught.value.kind == kind
    assert words in caught.value.message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_damaged(fmt):
    data = photo(fmt=fmt)
    with pytest.raises(InvalidImage, match="damaged or incomplete"):
        probe(data[: len(data) * 2 // 3], MAX)


def _png_header_only(width, height):
    """A tiny PNG that declares a huge image: a decompression bomb."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20_000, 60_000])
def test_decompression_bombs_are_refused_from_the_header(side):
    with pytest.raises(InvalidImage) as caught:
        probe(_png_header_only(side, side), MAX)
    assert caught.value.kind == "too_large"
    assert "too large" in caught.value.message


def test_animated_webp_is_refused():
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidImage, match="Animated"):
        probe(buf.getvalue(), MAX)


def _with_orientation(img, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "white")
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left
    data = _with_orientation(img, 6)  # "rotate 90° clockwise to display"
    info = probe(data, MAX)
    assert (info.width, info.height) == (20, 40)
    shown = decode(data)
    assert shown.size == (20, 40)
    top = np.asarray(shown)[2, 10]
    assert top[0] > 200 and top[1] < 80  # the red band is now at the top


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGB"])
def test_decode_normalises_opaque_modes_to_rgb(mode):
    img = Image.fromarray(photo_array("coffee")).convert(mode)
    fmt = "JPEG" if mode in ("L", "CMYK", "RGB") else "PNG"
    out = decode(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (600, 400)


def test_decode_keeps_transparency():
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert decode(encode(img, "PNG")).mode == "RGBA"
    palette = Image.new("P", (10, 10))
    palette.info["transparency"] = 0
    assert decode(encode(palette, "PNG", transparency=0)).mode == "RGBA"


def test_decode_scales_16_bit_greyscale_instead_of_clipping():
    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = np.asarray(decode(encode(Image.fromarray(arr), "PNG")))
    assert out.shape == (64, 64, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    assert 100 < out[32, 32, 0] < 155  # mid-grey stays mid-grey


@pytest.mark.parametrize("factor, side", [(1, 2048), (2, 1024), (4, 512), (8, 256), (3, 1024)])
def test_reduced_decode_reduces_jpeg_by_at_most_the_factor(factor, side):
    data = photo("astronaut", size=(2048, 2048))
    assert decode(data, reduce_by=factor).size == (side, side)
    assert decode(photo("astronaut", fmt="PNG"), reduce_by=factor).size == (512, 512)


@pytest.mark.parametrize("size, factor, at_least, made", [
    ((2047, 1535), 2, 1, (1024, 768)), ((2047, 1535), 8, 1, (256, 192)),
    ((1277, 957), 2, 320, (639, 479)), ((1277, 957), 4, 320, (639, 479)),
    ((1277, 957), 8, 320, (639, 479)),
])
def test_an_odd_side_is_reduced_too(size, factor, at_least, made):
    """Pillow divides each side by the size asked for, rounding down: asked for half of an
    odd side rounded up, it decoded the photo whole (a 1277×957 photo's model input)."""
    data = photo("astronaut", size=size)
    assert decode(data, reduce_by=factor, at_least=at_least).size == made


def test_reduced_decode_stops_at_the_size_asked_for():
    data = photo("astronaut", size=(2048, 2048))
    assert decode(data, reduce_by=8, at_least=320).size == (512, 512)
    assert decode(data, reduce_by=8, at_least=200).size == (256, 256)


def test_a_phone_jpeg_with_extra_pictures_is_a_still_jpeg():
    """Phones store gain maps and previews after the photo (MPO); Pillow calls that
    "animated", but it is one photo."""
    main, extra = Image.fromarray(photo_array("coffee")), Image.new("RGB", (64, 48), "gray")
    buf = io.BytesIO()
    main.save(buf, "MPO", save_all=True, append_images=[extra])
    info = probe(buf.getvalue(), MAX)
    assert (info.format, info.content_type, info.width, info.height) == (
        "JPEG", "image/jpeg", 600, 400)
    assert decode(buf.getvalue()).size == (600, 400)


def test_a_png_damaged_inside_its_image_data_is_refused_without_decoding_it():
    """Its chunks' checksums are right; the image data inside is not zlib."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", b"not zlib at all") + chunk(b"IEND", b""))
    with pytest.raises(InvalidImage, match="damaged"):
        probe(data, MAX)
