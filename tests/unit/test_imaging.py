"""Checking uploads and decoding them the right way up."""

import io
import itertools
import re
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from app.images import structure
from app.images.decoding import MAX_WEBP_PIXELS, InvalidImage, decode, probe
from app.images.structure import (
    MAX_JPEG_MARKERS,
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    MAX_JPEG_SKIPPED,
    MAX_PNG_CHUNKS,
    jpeg_layout,
    jpeg_picture,
    jpeg_scans,
)
from tests.support import encode, jpeg_claiming, photo, photo_array

MAX = 50_000_000


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                       ("WEBP", "image/webp")])
def test_accepted_formats(fmt, mime):
    info = probe(photo(fmt=fmt), MAX)
    assert (info.format, info.content_type, info.width, info.height) == (fmt, mime, 451, 300)


@pytest.mark.parametrize("data, kind, words", [
    (b"", "invalid", "empty"),
    (b"hello world", "unsupported", "JPEG, PNG or WebP"),
    # A well-known format is named (helper 77: a phone's HEIC was "not an image").
    (encode(Image.new("RGB", (8, 8)), "GIF"), "unsupported",
     "GIF images cannot be read here. Please upload a JPEG, PNG or WebP image."),
    (encode(Image.new("RGB", (8, 8)), "BMP"), "unsupported",
     "BMP images cannot be read here. Please upload a JPEG, PNG or WebP image."),
    (encode(Image.new("RGB", (8, 8)), "TIFF"), "unsupported",
     "TIFF images cannot be read here. Please upload a JPEG, PNG or WebP image."),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "unsupported",
     "HEIC images cannot be read here. Please upload a JPEG, PNG or WebP image."),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + bytes(64), "unsupported",
     "AVIF images cannot be read here. Please upload a JPEG, PNG or WebP image."),
    # Not those, however they start: a text about a BMW, an MP4 video.
    (b"BMW owners' notes, page 1", "unsupported",
     "That file is not an image we can read. Please upload a JPEG, PNG or WebP image."),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42" + bytes(64), "unsupported",
     "That file is not an image we can read. Please upload a JPEG, PNG or WebP image."),
    # A PNG's signature and no header: a PNG, damaged (it was told to send a PNG, helper 93).
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "invalid", "damaged or incomplete"),
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


def exif_pillow_cannot_write(orientation: int) -> bytes:
    """EXIF with `orientation` and the camera maker (0x010F, text) stored as a rational:
    photo viewers show it, and Pillow reads it but cannot write it back (helper 79)."""
    entries = [(0x010F, 5, 1, 8 + 2 + 2 * 12 + 4), (0x0112, 3, 1, orientation)]
    tiff = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    tiff += b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return b"Exif\x00\x00" + tiff + struct.pack("<III", 0, 1, 2)


@pytest.mark.parametrize("file_format", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_exif_pillow_cannot_write_is_turned_upright_all_the_same(file_format, orientation):
    """Each orientation turns the pixels exactly as Pillow's exif_transpose does with an
    EXIF it can write; that function failed on this one with a 500 at every door."""
    from PIL import ImageOps

    img = Image.fromarray(photo_array("coffee")[:30, :40])
    lossless = {"WEBP": {"lossless": True}}.get(file_format, {})
    odd = encode(img, file_format, exif=exif_pillow_cannot_write(orientation), **lossless)
    plain = Image.Exif()
    plain[0x0112] = orientation
    with Image.open(io.BytesIO(encode(img, file_format, exif=plain, **lossless))) as opened:
        upright = ImageOps.exif_transpose(opened).convert("RGB")
    shown = decode(odd)
    assert shown.size == upright.size == ((30, 40) if orientation > 4 else (40, 30))
    assert shown.tobytes() == upright.tobytes()


def test_a_webp_decoded_keeps_no_decoder_beside_its_pixels():
    """Pillow reads a WebP with libwebp's animation decoder, two canvases and the frame's
    bytes beside the pixels: 600 MB at 50 MP, kept for the whole job (helper 79)."""
    data = encode(Image.fromarray(photo_array("coffee")), "WEBP", quality=90)
    shown = decode(data)
    assert not hasattr(shown, "_decoder") and getattr(shown, "fp", None) is None
    with Image.open(io.BytesIO(data)) as opened:
        assert shown.tobytes() == opened.convert("RGB").tobytes()


@pytest.mark.parametrize("size", [(5000, 5000), (5001, 5000), (5000, 5001)])
def test_a_webp_may_have_25_megapixels_and_not_one_more(size):
    """Its decoder holds 16 bytes a pixel while it works, against a JPEG's 4."""
    data = encode(Image.new("RGB", size, (90, 120, 150)), "WEBP", lossless=True, method=0)
    if size == (5000, 5000):
        assert probe(data, MAX).pixels == MAX_WEBP_PIXELS
        return
    with pytest.raises(InvalidImage) as refused:
        probe(data, MAX)
    assert (refused.value.kind, refused.value.message) == ("too_large", (
        f"This WebP image is too large ({size[0]}×{size[1]}). A WebP may have at most 25 "
        "megapixels here: please send it as a JPEG or PNG, or smaller."))
    assert probe(encode(Image.new("RGB", size, (90, 120, 150)), "PNG"), MAX).pixels > 25e6


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
    """v × 255 / 65535, rounded down: 257 is 1, 256 still 0; on every row of a photo taller
    than the bands it is scaled in (256 rows)."""
    levels = [0, 256, 257, 32895, 32896, 65534, 65535]
    arr = np.tile(np.array(levels, np.uint16), (600, 1))
    arr[:, 0] = np.arange(600) * 109  # each row its own first value
    out = np.asarray(decode(encode(Image.fromarray(arr), "PNG")))
    assert out.shape == (600, 7, 3)
    assert (out == out[..., :1]).all()  # grey
    assert (out[:, 1:, 0] == [0, 1, 127, 128, 254, 255]).all()
    assert (out[:, 0, 0] == np.arange(600) * 109 * 255 // 65535).all()


def test_a_dark_16_bit_photo_stays_dark():
    """Values up to 255 of 65535 are level 0 of 255 (before: stretched to the photo's own
    maximum, a black photo came back bright, helper 69)."""
    arr = np.tile(np.array([0, 100, 200, 255], np.uint16), (3, 1))
    out = np.asarray(decode(encode(Image.fromarray(arr), "PNG")))
    assert (out == 0).all() and out.shape == (3, 4, 3)


def test_16_bit_greyscale_is_scaled_without_whole_float_copies():
    """A 49.7 MP 16-bit PNG compresses to 108 KB; its float64 copies whole peaked at 1.2 GB.
    Here (3 MP) numpy's allocations stay under 8 bytes a pixel (the 16-bit values, read
    out once as bytes, the 8-bit result and a band: 5.7 measured); float64 copies of the
    whole took 24 and more."""
    arr = (np.arange(1500 * 2000, dtype=np.uint32) % 65536).astype(np.uint16).reshape(1500, 2000)
    data = encode(Image.fromarray(arr), "PNG")
    tracemalloc.start()
    try:
        decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1500 * 2000, peak


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


def test_a_png_damaged_inside_its_image_data_is_refused_when_decoded_not_checked():
    """Its chunks' checksums are right; the image data inside is not zlib. The check reads
    the chunks only: finding this takes inflating them, which is the decode's work (the
    check used to do it unseen, through Pillow's getexif, for every PNG: 47 MB and 0.12 s
    at 12 MP in the request's thread)."""
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", b"not zlib at all") + _chunk(b"IEND", b""))
    assert probe(data, MAX).width == 64
    with pytest.raises(InvalidImage, match="damaged"):
        decode(data)


def test_a_png_is_checked_without_decoding_it(monkeypatch):
    loads = []
    decoder = Image._getdecoder
    monkeypatch.setattr(Image, "_getdecoder",
                        lambda *args: loads.append(args[1]) or decoder(*args))
    data = photo(fmt="PNG")
    loads.clear()
    assert probe(data, MAX).width == 451
    assert loads == []


def test_an_exif_larger_than_a_jpeg_can_hold_is_refused_unread():
    """A PNG's eXIf chunk may be any size, and Pillow unpacks it whole to find the
    orientation: 14 MB took 5.6 s and 330 MB (a reviewer's file)."""
    def png_with_exif(size: int) -> bytes:
        exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x00" + b"\x00" * (size - 10)
        whole = photo(fmt="PNG")
        return whole[:33] + _chunk(b"eXIf", exif) + whole[33:]

    assert probe(png_with_exif(65_535 - 6), MAX).width == 451  # Pillow adds "Exif\0\0"
    with pytest.raises(InvalidImage) as caught:
        probe(png_with_exif(65_535 - 5), MAX)
    assert (caught.value.kind, caught.value.message) == (
        "unsupported", "This file carries more than 64 KB of EXIF metadata, far more than "
                       "cameras and image editors write. Please save it again as an ordinary "
                       "image.")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def _progressive(scans: int) -> bytes:
    """A 64×48 progressive JPEG of `scans` scans: libjpeg's ten, then its smallest
    refinement scan again and again, as an attacker's scan bomb is made (each repeat is a
    pass over every coefficient of the photo, at any scale it is decoded)."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).resize((64, 48)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    starts = [at for at in range(len(data) - 1) if data[at:at + 2] == b"\xff\xda"]
    bounds = [*starts, data.rindex(b"\xff\xd9")]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert len(pieces) < scans
    smallest = min(pieces[1:], key=len)
    return data[:-2] + smallest * (scans - len(pieces)) + b"\xff\xd9"


def test_a_jpeg_of_a_hundred_scans_is_taken_and_one_more_is_refused_unread():
    info = probe(_progressive(MAX_JPEG_SCANS), MAX)
    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)
    assert decode(_progressive(MAX_JPEG_SCANS)).size == (64, 48)
    with pytest.raises(InvalidImage) as caught:
        probe(_progressive(MAX_JPEG_SCANS + 1), MAX)
    assert (caught.value.kind, caught.value.message) == (
        "unsupported", "This file is built of more than 100 scans, far more than cameras and "
                       "image editors write. Please save it again as an ordinary image.")


@pytest.mark.parametrize("progressive", [False, True])
def test_what_follows_the_picture_is_not_counted_as_its_scans(progressive):
    """A phone's motion photo ends in a video, whose random bytes hold FF DA about once in
    64 KB: 8 MB of them held 120. Only the first picture's scans count, as libjpeg reads."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).save(buf, "JPEG", progressive=progressive)
    trailer = np.random.default_rng(0).integers(0, 256, 8_000_000, dtype=np.uint8).tobytes()
    assert trailer.count(b"\xff\xda") > MAX_JPEG_SCANS
    assert jpeg_scans(buf.getvalue() + trailer) == (10 if progressive else 1)
    assert probe(buf.getvalue() + trailer, MAX).width == 600
    bomb = _progressive(MAX_JPEG_SCANS + 1)
    assert jpeg_scans(bomb + trailer) == MAX_JPEG_SCANS + 1  # a walk stops one past


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_too_short_for_its_size_is_damaged(progressive):
    """One coded bit for each 8×8 block of each component is the least Huffman coding
    spends: 64×64 px coded, 7000×7000 claimed."""
    bomb = jpeg_claiming((7000, 7000), progressive)
    blocks, coded = jpeg_picture(bomb)
    assert blocks == 875 * 875 + 2 * 438 * 438  # the colours subsampled 4:2:0
    assert 0 < coded * 8 < blocks
    with pytest.raises(InvalidImage) as caught:
        probe(bomb, MAX)
    assert caught.value.message == ("The image file is damaged or incomplete. Please upload a "
                                    "whole JPEG, PNG or WebP image.")


def test_the_fewest_coded_bytes_a_size_allows_are_taken():
    """The bound is exactly one bit a block: a grey file of 64×64 px coded is taken as any
    size of at most 8 × its coded bytes in blocks, and refused a column of blocks past it."""
    coded = jpeg_picture(jpeg_claiming((64, 64), mode="L"))[1]
    width = 8 * coded  # 8 rows of `coded` blocks: one block for each coded bit
    assert probe(jpeg_claiming((width, 64), mode="L"), MAX).width == width
    with pytest.raises(InvalidImage):
        probe(jpeg_claiming((width + 8, 64), mode="L"), MAX)
    with pytest.raises(InvalidImage):
        probe(jpeg_claiming((width + 1, 64), mode="L"), MAX)  # a part block is a block


def test_every_components_blocks_count():
    """A colour file whose brightness alone would fit the bound: its two colour components,
    a quarter of the blocks each (4:2:0), are coded too."""
    coded = jpeg_picture(jpeg_claiming((64, 64)))[1]
    claimed = jpeg_claiming((8 * coded, 64))  # brightness: 8 rows of `coded` blocks
    assert jpeg_picture(claimed)[0] == 8 * coded + 2 * 4 * -(-coded // 2)
    with pytest.raises(InvalidImage):
        probe(claimed, MAX)


def test_fill_bytes_and_restarts_inside_a_scan_are_coded_bytes():
    """0xFF fill bytes may stand before any marker, a restart inside a scan too: the scan
    was taken to end at the first of them, and a whole photo judged damaged."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).save(buf, "JPEG", restart_marker_rows=1)
    plain = buf.getvalue()
    scan = plain.index(b"\xff\xda")
    head, body = plain[:scan], plain[scan:]
    restarts = sum(body.count(bytes([0xFF, marker])) for marker in range(0xD0, 0xD8))
    assert restarts == 24  # one after each 16 rows but the last, of 400
    filled = head + re.sub(rb"\xff[\xd0-\xd7]", lambda found: b"\xff" + found[0], body)
    assert jpeg_picture(filled)[1] == jpeg_picture(plain)[1] + restarts
    assert probe(filled, MAX).width == 600
    assert np.array_equal(np.asarray(decode(filled)), np.asarray(decode(plain)))


def test_flat_photos_code_more_than_a_bit_a_block():
    """The least Pillow writes: one colour, Huffman tables made for it (two bits a block:
    an encoder that codes a flat photo's average colours alone would spend one)."""
    for progressive, mode in itertools.product((False, True), ("L", "RGB")):
        buf = io.BytesIO()
        Image.new(mode, (4000, 3000), 128 if mode == "L" else (10, 200, 30)).save(
            buf, "JPEG", quality=1, optimize=True, progressive=progressive)
        blocks, coded = jpeg_picture(buf.getvalue())
        assert coded * 8 >= 2 * blocks
        assert probe(buf.getvalue(), MAX).width == 4000


def test_an_arithmetic_jpeg_is_not_judged_by_its_coded_bytes():
    """Arithmetic coding may spend less than a bit on a flat block."""
    assert jpeg_picture(jpeg_claiming((7000, 7000), frame=0xC9)) is None


def _padded(segments: int) -> bytes:
    """A 64×48 JPEG of exactly `segments` segments before its scan: its own (APP0, the
    quantisation and Huffman tables, the frame), and empty APP5s between (3.7 million of
    them in 15 MB took Pillow 12 s of CPU and 490 MB to open, twice per upload)."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).resize((64, 48)).save(buf, "JPEG")
    data = buf.getvalue()
    own = jpeg_layout(data)[0]
    assert own < 20
    return data[:2] + b"\xff\xe5\x00\x02" * (segments - own) + data[2:]


def test_a_jpeg_of_a_thousand_segments_is_taken_and_one_more_is_refused_unread():
    assert jpeg_layout(_padded(MAX_JPEG_SEGMENTS)) == (MAX_JPEG_SEGMENTS, 0)
    assert MAX_JPEG_SEGMENTS == 1000
    info = probe(_padded(MAX_JPEG_SEGMENTS), MAX)
    assert (info.format, info.width, info.height) == ("JPEG", 64, 48)
    assert decode(_padded(MAX_JPEG_SEGMENTS)).size == (64, 48)
    for segments in (MAX_JPEG_SEGMENTS + 1, 3_748_124):
        with pytest.raises(InvalidImage) as caught:
            probe(_padded(segments), MAX)
        assert (caught.value.kind, caught.value.message) == (
            "unsupported", "This file has more than 1,000 segments before its picture, far "
                           "more than cameras and image editors write. Please save it again "
                           "as an ordinary image.")
    assert jpeg_layout(_padded(3_748_124))[0] == MAX_JPEG_SEGMENTS + 1  # one past


def test_the_segments_of_a_progressive_jpeg_between_its_scans_are_not_its_header():
    """libjpeg, not Pillow, reads the tables between scans: only the first scan's
    header counts."""
    assert jpeg_layout(_progressive(MAX_JPEG_SCANS))[0] < 20


def _small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).resize((64, 48)).save(buf, "JPEG")
    return buf.getvalue()


def _refused(data: bytes, why: str, kind: str = "unsupported") -> None:
    with pytest.raises(InvalidImage) as caught:
        probe(data, MAX)
    assert (caught.value.kind, caught.value.message) == (kind, why)


TOO_COMPLEX = ("This file {}, far more than cameras and image editors write. Please save it "
               "again as an ordinary image.")
DAMAGED = "The image file is damaged or incomplete. Please upload a whole JPEG, PNG or WebP image."


@pytest.mark.parametrize("where", ["before the first segment", "after the scan"])
def test_64_kb_of_fill_bytes_are_taken_and_one_more_is_refused_before_pillow(where):
    """Pillow walked 15 MB of 0xFF fill before a marker one byte at a time (5 s of CPU,
    charged nothing: the photo was refused), and libjpeg those after a scan (0.9 s, for a
    photo charged as 64×48); the check walked them one at a time too (1.4 s)."""
    data = _small_jpeg()

    def filled(count: int) -> bytes:
        if where == "before the first segment":
            return data[:2] + b"\xff" * count + data[2:]
        return data[:-2] + b"\xff" * count + data[-2:]

    assert jpeg_layout(filled(MAX_JPEG_SKIPPED))[1] == MAX_JPEG_SKIPPED == 65536
    assert probe(filled(MAX_JPEG_SKIPPED), MAX).width == 64
    assert decode(filled(MAX_JPEG_SKIPPED)).size == (64, 48)
    for count in (MAX_JPEG_SKIPPED + 1, 15_000_000):
        _refused(filled(count), TOO_COMPLEX.format(
            "has more than 64 KB of stray bytes between its segments"))


def test_stray_bytes_before_a_segment_count_as_skipped():
    data = _small_jpeg()
    assert jpeg_layout(data[:2] + b"\x00" * 100 + data[2:])[1] == 100
    assert jpeg_layout(data)[1] == 0


@pytest.mark.parametrize("body", [b"\xff" * 15_000_000, b"\x00" * 15_000_000,
                                  b"\xff\x00" * 7_500_000, b"\xff\xe5\x00\x02\xff\xd9"])
def test_a_jpeg_in_which_no_scan_starts_is_damaged_before_pillow_walks_it(body):
    """Pillow walked 15 MB of fill, zeros or escaped zeros after FF D8 one byte at a time
    looking for a scan (0.9-5 s) before it said it could not read the file."""
    assert jpeg_layout(b"\xff\xd8" + body) is None
    _refused(b"\xff\xd8" + body, DAMAGED, "invalid")


@pytest.mark.parametrize("marker", [b"\xff\x01", b"\xff\xfe\x00\x02"])
def test_ten_thousand_markers_are_walked_and_one_more_is_refused(marker):
    """Millions of markers without a length (TEM) or of empty comments after the scan were
    walked one at a time in Python: 5 s for 15 MB. (Restarts after a scan are read as its
    data, in C; before it, they are segments.)"""
    data = _small_jpeg()
    own = sum(1 for _ in structure._markers(data))

    def marked(count: int) -> bytes:
        return data[:-2] + marker * (count - own) + data[-2:]

    assert sum(1 for _ in structure._markers(marked(MAX_JPEG_MARKERS))) == MAX_JPEG_MARKERS
    assert probe(marked(MAX_JPEG_MARKERS), MAX).width == 64
    with pytest.raises(structure.TooManyMarkers):
        sum(1 for _ in structure._markers(marked(MAX_JPEG_MARKERS + 1)))
    for count in (MAX_JPEG_MARKERS + 1, 3_900_000):
        _refused(marked(count), TOO_COMPLEX.format("has more than 10,000 markers in its picture"))


def _png_of_chunks(chunks: int) -> bytes:
    """An 8×8 PNG of exactly `chunks` chunks: its header, pixels and end, and empty private
    chunks between (a file of a million of them took Pillow 6.6 s to open)."""
    pixels = zlib.compress((b"\x00" + b"\x80" * 24) * 8)
    private = _chunk(b"prVt", b"")
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + private * (chunks - 3) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))


def test_a_png_of_twenty_thousand_chunks_is_taken_and_one_more_is_refused_unopened(
        monkeypatch):
    info = probe(_png_of_chunks(MAX_PNG_CHUNKS), MAX)
    assert (info.format, info.width, info.height) == ("PNG", 8, 8)
    opened = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args))
    with pytest.raises(InvalidImage) as caught:
        probe(_png_of_chunks(MAX_PNG_CHUNKS + 1), MAX)
    assert (caught.value.kind, caught.value.message, opened) == (
        "unsupported", "This file is split into more than 20,000 chunks, far more than "
                       "cameras and image editors write. Please save it again as an ordinary "
                       "image.", [])


@pytest.mark.parametrize(("progressive", "decoded"), [(False, 1), (True, 0)])
def test_only_a_baseline_jpeg_is_decoded_to_be_checked(monkeypatch, progressive, decoded):
    """A progressive JPEG's decode holds every coefficient of the photo (280 MB at 48 MP,
    at any scale) in the request's thread: it is decoded once, by the engine, in its turn."""
    loads = []
    decoder = Image._getdecoder
    monkeypatch.setattr(Image, "_getdecoder",
                        lambda *args: loads.append(args[1]) or decoder(*args))
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).save(buf, "JPEG", progressive=progressive)
    loads.clear()  # the photo's own making
    assert probe(buf.getvalue(), MAX).width == 600
    assert loads == ["jpeg"] * decoded


def test_a_damaged_progressive_jpeg_is_refused_when_the_engine_decodes_it():
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).save(buf, "JPEG", progressive=True)
    cut = buf.getvalue()[: len(buf.getvalue()) * 2 // 3]
    assert probe(cut, MAX).width == 600  # its header is whole
    with pytest.raises(InvalidImage, match="damaged or incomplete"):
        decode(cut)


def _png_with_text(chunks: int) -> bytes:
    """A 1×1 PNG whose `chunks` zTXt chunks of about 1 KB each inflate to 1 MB - 1."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    text = zlib.compress(b"a" * (1024 * 1024 - 1), 9)
    return b"".join([b"\x89PNG\r\n\x1a\n",
                     chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)),
                     *(chunk(b"zTXt", b"k%d\x00\x00" % i + text) for i in range(chunks)),
                     chunk(b"IDAT", zlib.compress(b"\x00\x80\x80\x80")), chunk(b"IEND", b"")])


@pytest.mark.parametrize("chunks", [4, 5, 65])
def test_a_png_may_hold_4_mb_of_text_and_no_more(chunks):
    """Pillow inflated up to 64 MB of it each time it opened the file (three times an
    upload): 63 chunks made a 1×1 PNG's check take 0.42 s, 65 were called damaged
    (helper 67)."""
    data = _png_with_text(chunks)
    if chunks == 4:
        assert (probe(data, 10**6).width, decode(data).size) == (1, (1, 1))
        return
    with pytest.raises(InvalidImage) as refused:
        probe(data, 10**6)
    assert (refused.value.kind, refused.value.message) == (
        "unsupported", "This file holds more than 4 MB of text, far more than cameras and "
                       "image editors write. Please save it again as an ordinary image.")
