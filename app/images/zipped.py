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


def apart(height: int, width: int, channels: int, rows) -> tuple[Image.Image, np.ndarray | None]:
    """A result of 3 or 4 `channels`, given as `rows(top, bottom)` (compose.py), as its
    colours (an RGB image) and its alpha (None without transparency), for the encoders that
    take them apart (this zip's, webpwriter.py's). Filled band by band, never as one RGBA
    image and a copy of it: at 50 MP those and the JPEG's optimised tables took a worker
    past its budget (docs/scaling.md)."""
    picture = Image.new("RGB", (width, height))
    alpha = np.empty((height, width), np.uint8) if channels == 4 else None
    for top, bottom in pngwriter.bands_of(height, width * channels):
        band = rows(top, bottom)
        picture.paste(Image.fromarray(np.ascontiguousarray(band[..., :3])), (0, top))
        if channels == 4:
            alpha[top:bottom] = band[..., 3]
    return picture, alpha


def encode(height: int, width: int, channels: int, rows, quality: int) -> bytes:
    """A result of 3 or 4 `channels` (without transparency its alpha is all opaque), given
    as `rows(top, bottom)` (compose.py), as a zip of color.jpg and alpha.png. Stored, not
    deflated: both are compressed."""
    picture, alpha = apart(height, width, channels, rows)
    colours = io.BytesIO()
    picture.save(colours, "JPEG", quality=quality)  # not optimised: compose.py says why
    del picture

    def opacity(top: int, bottom: int) -> np.ndarray:
        if alpha is not None:
            return alpha[top:bottom, :, np.newaxis]
        return np.full((bottom - top, width, 1), 255, np.uint8)  # no image of 255s

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as written:
        for name, data in ((ZIP_COLOURS, colours.getvalue()),
                           (ZIP_ALPHA, pngwriter.encode_rows(height, width, 1, opacity))):
            # Dated as nothing (zip's first day), so the same result is the same bytes.
            written.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return archive.getvalue()
