"""A result as remove.bg's zip: its colours as a JPEG (color.jpg) and its alpha as a
lossless PNG (alpha.png), which together weigh much less than one RGBA PNG (bench/zip_size.py,
docs/api.md). The caller joins them: color.jpg's pixels with alpha.png as their alpha."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from app.images import pngwriter
from app.images.outputs import ZIP_ALPHA, ZIP_COLOURS


def encode(result: Image.Image, quality: int) -> bytes:
    """`result` (RGBA, or RGB for a result without transparency: its alpha is then all
    opaque) as a zip of color.jpg and alpha.png. Stored, not deflated: both are compressed."""
    colours = io.BytesIO()
    result.convert("RGB").save(colours, "JPEG", quality=quality, optimize=True)
    alpha = (result.getchannel("A") if result.mode == "RGBA"
             else Image.new("L", result.size, 255))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as written:
        for name, data in ((ZIP_COLOURS, colours.getvalue()),
                           (ZIP_ALPHA, pngwriter.encode(np.asarray(alpha)))):
            # Dated as nothing (zip's first day), so the same result is the same bytes.
            written.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return archive.getvalue()
