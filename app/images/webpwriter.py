"""A transparent result as WebP: its colours compressed lossy by libwebp, as an opaque WebP,
and its alpha losslessly, apart, joined in one file as WebP's container defines it
(developers.google.com/speed/webp/docs/riff_container: a VP8X chunk, then ALPH, then VP8).

Through Pillow, libwebp compresses a transparent image's alpha at the colours' effort: at
12 MP the alpha took 0.9 s of a 1.8 s encode. Here the alpha is first filtered (each row
less the row above, one of the container's own filters, which the decoder undoes), then
compressed at libwebp's least effort: the same pixels back, alpha exact, in under half the
time for files 13-27% larger (bench/webp_alpha.py, bench/png_size.py).
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from app.images.zipped import apart

# ALPH's header byte: no pre-processing, the vertical filter (2), lossless compression (1).
_VERTICAL_LOSSLESS = 2 << 2 | 1
_HAS_ALPHA = 0x10  # VP8X's flag
# A lossless WebP's own header (signature, size, flags: 5 bytes), which an ALPH chunk's
# stream goes without: its size is the image's.
_VP8L_HEADER = 5
# libwebp's lossless effort 0 on the filtered alpha: at 12 MP, 0.19 s and 195 kB; efforts
# 1-3 took 0.9 s for 92 kB (bench/webp_alpha.py).
_ALPHA_METHOD = 0


def encode(height: int, width: int, rows, quality: int, method: int) -> bytes:
    """A transparent result, given as RGBA `rows(top, bottom)` (compose.py), as WebP."""
    picture, alpha = apart(height, width, 4, rows)
    # One after the other, the colours' (the larger) first: side by side on two threads,
    # the 16 MP WebP of random-bit transparency took a worker past its budget
    # (tests/system/test_memory.py: 1,401 MiB), and with the alpha's first, to its edge.
    colours = _chunks(_saved(picture, quality=quality, method=method))[b"VP8 "]
    del picture
    stream = _alpha_stream(alpha)
    vp8x = struct.pack("<B3x", _HAS_ALPHA) + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + _chunk(b"VP8X", vp8x) + _chunk(b"ALPH", stream) \
        + _chunk(b"VP8 ", colours)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _alpha_stream(alpha: np.ndarray) -> bytes:
    """ALPH's payload: the header byte, then the filtered alpha as a headerless lossless
    stream whose green channel holds it (Pillow makes an L image's grey its green)."""
    residual = np.empty_like(alpha)
    # Each value less the one above; the first row's less the one to its left, and the
    # first value less nothing: the container's vertical filter, modulo 256.
    np.subtract(alpha[1:], alpha[:-1], out=residual[1:])
    np.subtract(alpha[0, 1:], alpha[0, :-1], out=residual[0, 1:])
    residual[0, 0] = alpha[0, 0]
    lossless = _saved(Image.fromarray(residual), lossless=True, quality=0,
                      method=_ALPHA_METHOD)
    return bytes([_VERTICAL_LOSSLESS]) + _chunks(lossless)[b"VP8L"][_VP8L_HEADER:]


def _saved(image: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "WEBP", **options)
    return buf.getvalue()


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a WebP file Pillow wrote, by name."""
    chunks, at = {}, 12  # after "RIFF", the size and "WEBP"
    while at + 8 <= len(data):
        name, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        chunks[name] = data[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    return chunks


def _chunk(name: bytes, payload: bytes) -> bytes:
    return name + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
