"""A photo's colours in sRGB: what the model was trained on, what a colour chosen on the page
means, and what every viewer assumes of an image that carries no colour profile, as every
result, rendition and mask of this app does."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

from app.images.pngwriter import POOL
from app.images.resample import SPLIT_PIXELS, in_place_by_bands

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# An RGB profile is a few hundred bytes (a matrix and curves) to a few hundred KB (tables);
# a larger one is left out, as a broken one is, and the photo's numbers read as sRGB.
MAX_PROFILE_BYTES = 1024 * 1024
# Every tenth level of each channel: a profile that moves none of them by more than a level
# is sRGB under another name (most cameras' and phones'), and its photo is left as it is.
_LEVELS = np.arange(0, 256, 10, dtype=np.uint8)
_PROBE = np.stack(np.meshgrid(_LEVELS, _LEVELS, _LEVELS, indexing="ij"), -1).reshape(1, -1, 3)


def in_srgb(img: Image.Image) -> Image.Image:
    """`img` (RGB or RGBA, as decoded) with its colours converted from the RGB profile it
    carries to sRGB, in place; without one, or with sRGB's, `img` itself."""
    profile = img.info.pop("icc_profile", None)
    transform = _transform(profile, img.mode) if profile else None
    if transform is not None:
        if img.width * img.height >= SPLIT_PIXELS:  # 0.3 s at 12 MP on one thread, 0.2 on two
            in_place_by_bands(img, lambda band: _apply(band, transform), POOL)
        else:
            _apply(img, transform)
        img.info.pop("icc_profile", None)  # which littlecms set to sRGB's: said by no profile
    return img


def _apply(img: Image.Image, transform: ImageCms.ImageCmsTransform) -> None:
    ImageCms.applyTransform(img, transform, inPlace=True)


@lru_cache(maxsize=16)
def _transform(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    if len(profile) > MAX_PROFILE_BYTES:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space != "RGB ":  # a CMYK or grey profile on RGB pixels
            return None
        transform = ImageCms.buildTransform(source, SRGB, mode, mode,
                                            ImageCms.Intent.RELATIVE_COLORIMETRIC)
        probe = Image.fromarray(_PROBE, "RGB").convert(mode)
        moved = np.asarray(ImageCms.applyTransform(probe, transform), np.int16)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a damaged profile is ignored, as browsers ignore it
    return transform if np.abs(moved - np.asarray(probe, np.int16)).max() > 1 else None
