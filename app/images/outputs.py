"""What a result can be, and what one is once made: the choices the rules (app/core/fields.py)
offer and the compositor makes. Standard library only, so reading a rule loads no numpy or
Pillow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ACCEPTED_TEXT = "JPEG, PNG or WebP"  # the photos read, as sentences name them
# A record's two images, as every door names them: the photo as sent, and the result.
IMAGE_KINDS = ("original", "processed")
FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# A removal's answer (never stored) may also be remove.bg's zip: the result's colours as a
# JPEG and its alpha as a PNG, under these names, for the caller to join (images/zipped.py).
REMOVAL_FORMATS = {**FORMATS, "zip": "application/zip"}
ZIP_COLOURS, ZIP_ALPHA = "color.jpg", "alpha.png"
OUTPUTS = ("transparent", "color", "image", "blur", "mask")
# Results without transparency, the only ones a JPEG can hold.
OPAQUE = ("color", "image", "blur", "mask")
DEFAULT_BACKGROUND = "#ffffff"  # the colour behind the subject when none is chosen
DEFAULT_OUTPUT, DEFAULT_FORMAT = "transparent", "png"  # a result when nothing is asked
FORMAT_LABELS = {"png": "PNG", "webp": "WebP", "jpeg": "JPEG", "zip": "zip"}
# The most pixels on a side each encoder writes: libwebp's 14-bit sizes, and libjpeg's
# JPEG_MAX_DIMENSION, under the format's own 65,535 (the zip's colours are a JPEG). PNG's
# 31-bit sizes are past any photo the checks accept.
MAX_SIDE = {"webp": 16383, "jpeg": 65500, "zip": 65500}
# The most pixels a WebP result may have: libwebp codes the alpha losslessly in up to
# 20 bytes a pixel more than the PNG writer needs, which took a 49 MP job to 2,076 MiB
# against a worker's 1.4 GB (16 MP: 1,296; docs/scaling.md).
MAX_PIXELS = {"webp": 16_000_000}
# The memory an encoder holds beyond the PNG writer's, in the admission's room (a share of
# the result's pixels, `Work.buffered`): two of the largest WebPs (16 MP, random-bit
# transparency) at once took a worker to 1,317-1,382 MiB, past its 1,335 (helper 90), one
# alone to 1,248-1,285. Counted as 1.6 times its pixels, a 16 MP WebP holds 25.6 of the
# room's 50 MP (MAX_IMAGE_PIXELS): two never share a turn, and one shares with 24 MP.
ENCODER_ROOM = {"webp": 0.6}
# A result's encode where it costs more than the PNG writer's, as the per-pixel work of a
# whole upload it amounts to (a PNG's is 1): the admission and the rate limits price a
# job by it (engines/admission.py `Work.extra`). A WebP's lossy colours take libwebp
# one core: a 12-16 MP upload as WebP took the time of 3.3-3.5 (over a colour), 3.7-3.9
# (transparent) and 4.4-4.8 (the mask, lossless) PNGs' worth of pixels; a JPEG, 1.3-1.4
# (bench/formats.py, docs/performance.md).
ENCODING_COST = {"webp": 4.0}
# Bytes in a file's name, on Linux's file systems and most others: what a result's file
# (a download, a batch run's output) may be named.
FILE_NAME_BYTES = 255


class TooLargeForFormat(ValueError):
    """A result wider or taller than its format can hold (`pixels` False), or with more
    pixels than it is made with here (True)."""

    def __init__(self, file_format: str, width: int, height: int, pixels: bool = False):
        super().__init__(f"{width}x{height} is over {file_format}'s limit")
        self.file_format, self.width, self.height = file_format, width, height
        self.pixels = pixels

    @property
    def limit(self) -> int:
        return (MAX_PIXELS if self.pixels else MAX_SIDE)[self.file_format]


def check_fits(file_format: str, width: int, height: int) -> None:
    """`TooLargeForFormat` unless `file_format` can hold a result of this size."""
    if max(width, height) > MAX_SIDE.get(file_format, max(width, height)):
        raise TooLargeForFormat(file_format, width, height)
    if width * height > MAX_PIXELS.get(file_format, width * height):
        raise TooLargeForFormat(file_format, width, height, pixels=True)


class ResultOptions(Protocol):
    """How a result should look: the fields of the core's OutputOptions."""

    output: str  # one of OUTPUTS
    background: str | None  # "#rrggbb", with output="color"
    crop: bool
    crop_margin: int  # percent of the subject's longer side
    format: str  # one of FORMATS (or REMOVAL_FORMATS, for a removal)
    refine_edges: bool  # snap the mask to the photo's edges and take their colour cast out


@dataclass(frozen=True)
class EncodedImage:
    """An image's file bytes and what they are: a result or rendition just made, a checked
    upload, a record's image on its way to storage."""

    data: bytes
    content_type: str
    width: int
    height: int
