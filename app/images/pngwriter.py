"""A fast PNG writer for the cutouts this app makes.

Writing the full-size PNG was most of the time of an upload: Pillow tries all five PNG
row filters on every row and compresses on one core (2.3 s for a 12 MP cutout here, at
level 1). A cutout needs neither. Rows are filtered "Up" by numpy (each byte minus the one
above it: measured on 12 MP cutouts, smaller after compression than Sub, Average or Paeth,
per band or per row, and the cheapest to compute), then deflated by ISA-L (`isal`) on
bands of rows in parallel: about 4x faster than zlib-ng's RLE on Sub rows and 13% smaller
(bench/png_size.py, docs/performance.md). The format parts are the PNG specification's
(https://www.w3.org/TR/png-3/): signature, IHDR, one IDAT holding a zlib stream, IEND.
Decoders check every byte of it; the tests read the result back with Pillow.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from isal import isal_zlib

from app.hosting import available_cpus
from app.images.structure import PNG_SIGNATURE

_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_SUB, _UP = 1, 2
# ISA-L's levels run 0-3; 3 spends twice the time of 1 or 2 for a larger file on these
# images (bench/png_size.py), and 2 is a hair smaller than 1.
LEVEL = 2
# Each band is compressed on its own, so bands trade a little ratio for parallelism;
# a few MB per band keeps that loss under one percent.
BAND_BYTES = 4 * 1024 * 1024
# Shared with the compositor, which makes a refined matte's bands on it before encoding,
# and with the engine, which makes the model's input on it.
POOL = ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix="png")
# ISA-L's own threads. Its vector code leaves the upper halves of the registers dirty (it
# has no vzeroupper: intel/isa-l#24), and the scalar floating-point C code a thread runs
# after it pays for each instruction: on POOL, Pillow's LANCZOS pass across a 65,500-pixel
# row took about 7 times as long after a PNG, and a 65,500 x 762 photo's upload 5 times as
# long as the same photo turned (bench/wide.py).
_DEFLATE = ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix="deflate")


def encode(pixels: np.ndarray) -> bytes:
    """PNG bytes of an 8-bit (height, width) or (height, width, channels) array."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    height, width, channels = pixels.shape
    return encode_rows(height, width, channels, lambda top, bottom: pixels[top:bottom])


def encode_rows(height: int, width: int, channels: int,
                rows: Callable[[int, int], np.ndarray]) -> bytes:
    """PNG bytes of an image whose rows `rows(top, bottom)` makes on demand, band by band
    and in parallel, so making the pixels is spread over the cores along with compressing
    them. Each band's checksum is taken as it is compressed and the band let go: only
    the compressed bytes are kept, never the whole image."""
    bands = bands_of(height, width * channels + 1)

    def compress(index: int) -> tuple[bytes, int, int]:
        top, bottom = bands[index]
        band = rows(top, bottom)
        if band.dtype != np.uint8 or band.shape[1:] not in ((width, channels), (width,)):
            raise ValueError(f"rows() gave {band.dtype} {band.shape}, not 8-bit rows of "
                             f"{width}x{channels}")
        filtered = _filtered(band.reshape(bottom - top, width, channels))
        return _DEFLATE.submit(_deflated, filtered, index == len(bands) - 1).result()

    parts = list(POOL.map(compress, range(len(bands))))
    checksum = 1  # zlib's checksum runs over all bands' uncompressed bytes, in order
    for _, band_checksum, length in parts:
        checksum = adler32_combine(checksum, band_checksum, length)
    stream = [b"\x78\x01", *(body for body, _, _ in parts), struct.pack(">I", checksum)]
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    # The file is joined once from the bands' bytes: joining the stream, then its chunk,
    # then the file held four copies of the compressed image at the end (89 MB for a
    # 22 MB PNG of 49.8 MP), where this holds two.
    return b"".join([PNG_SIGNATURE, *_chunk(b"IHDR", [header]), *_chunk(b"IDAT", stream),
                     *_chunk(b"IEND", [])])


def _deflated(filtered: bytes, last: bool) -> tuple[bytes, int, int]:
    """A band's raw deflate, its checksum and length. A sync flush ends each band on a byte
    boundary so the bands join into one valid stream, and only the last one is final."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    body = compressor.compress(filtered) + compressor.flush(
        isal_zlib.Z_FINISH if last else isal_zlib.Z_SYNC_FLUSH)
    return body, isal_zlib.adler32(filtered), len(filtered)


def bands_of(height: int, row_bytes: int) -> list[tuple[int, int]]:
    """(top, bottom) of each band of `height` rows of `row_bytes`: about `BAND_BYTES`."""
    step = max(1, BAND_BYTES // row_bytes)
    return [(top, min(height, top + step)) for top in range(0, height, step)]


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from each one's checksum and
    the second's length (zlib's adler32_combine, which Python's zlib does not offer)."""
    base = 65521
    rem = second_length % base
    low = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % base
    high = (rem * (first & 0xFFFF) + (first >> 16) + (second >> 16) - rem) % base
    return (high << 16) | low


def _filtered(rows: np.ndarray) -> bytes:
    """Rows prefixed by their filter type: the band's first row "Sub" (each byte minus the
    byte one pixel left), so a band needs no row of the band before it; the others "Up"."""
    height, width, channels = rows.shape
    flat = rows.reshape(height, width * channels)
    out = np.empty((height, width * channels + 1), np.uint8)
    out[0, 0] = _SUB
    out[0, 1:1 + channels] = flat[0, :channels]
    np.subtract(flat[0, channels:], flat[0, :-channels], out=out[0, 1 + channels:])
    out[1:, 0] = _UP
    np.subtract(flat[1:], flat[:-1], out=out[1:, 1:])
    return out.tobytes()


def _chunk(kind: bytes, parts: list[bytes]) -> list[bytes]:
    """A chunk whose data is `parts` one after the other, as the pieces of the file."""
    crc = zlib.crc32(kind)
    for part in parts:
        crc = zlib.crc32(part, crc)
    length = sum(len(part) for part in parts)
    return [struct.pack(">I", length), kind, *parts, struct.pack(">I", crc)]
