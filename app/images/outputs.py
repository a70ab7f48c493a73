"""What a result can be, and what one is once made: the choices the rules (app/core/fields.py)
offer and the compositor makes. Standard library only, so reading a rule loads no numpy or
Pillow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# A removal's answer (never stored) may also be remove.bg's zip: the result's colours as a
# JPEG and its alpha as a PNG, under these names, for the caller to join (images/zipped.py).
REMOVAL_FORMATS = {**FORMATS, "zip": "application/zip"}
ZIP_COLOURS, ZIP_ALPHA = "color.jpg", "alpha.png"
OUTPUTS = ("transparent", "color", "image", "blur", "mask")
# Results without transparency, the only ones a JPEG can hold.
OPAQUE = ("color", "image", "blur", "mask")
DEFAULT_BACKGROUND = "#ffffff"  # the colour behind the subject when none is chosen


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
