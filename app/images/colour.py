"""A photo's colours as they are seen: in sRGB (what the model was trained on, what a colour
chosen on the page means, and what every viewer assumes of an image that carries no colour
profile, as every result, rendition and mask of this app does), and white where it is fully
transparent."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from app.images.pngwriter import POOL
from app.images.resample import SPLIT_PIXELS, in_place_by_bands

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Pillow refuses a PNG whose profile inflates past this; one as large in a JPEG or a WebP
# is left out, as a broken one is, so that a profile means the same in every format.
MAX_PROFILE_BYTES = PngImagePlugin.MAX_TEXT_CHUNK
# littlecms reads these floating-point tags before the others and walks their segmented
# curves a segment at a time: a 1 MB profile of them took 2.4-3.5 s of CPU for a 1×1 photo.
# They are renamed away, so that littlecms reads the profile as browsers' colour engines
# (skcms, qcms) do, by its other tags.
_FLOAT_TAGS = {b"D2B0", b"D2B1", b"D2B2", b"D2B3"}
# The profile's colour space for each mode a photo is stored in: a profile of another space
# (an RGB profile on a grey photo, any profile on CMYK) is left out, as libpng and browsers do.
_SPACES = {"RGB": "RGB ", "RGBA": "RGB ", "P": "RGB ", "PA": "RGB ", "L": "GRAY", "LA": "GRAY",
           "I;16": "GRAY", "I;16B": "GRAY", "I;16L": "GRAY", "I": "GRAY"}
# Every tenth level of each channel: a profile that moves none of them by more than a level
# is sRGB under another name (most cameras' and phones'), and its photo is left as it is.
_LEVELS = np.arange(0, 256, 10, dtype=np.uint8)
_PROBE = np.stack(np.meshgrid(_LEVELS, _LEVELS, _LEVELS, indexing="ij"), -1).reshape(1, -1, 3)
_RAMP = Image.fromarray(np.arange(256, dtype=np.uint8)[None], "L")
# What littlecms raises for a profile it cannot use: ignored, as browsers ignore it.
_REFUSALS = (ImageCms.PyCMSError, OSError, ValueError, TypeError)


def in_srgb(img: Image.Image, stored: Image.Image) -> Image.Image:
    """`img`, decoded to RGB or RGBA from `stored` (the image as its file holds it: its mode
    and profile), with its colours converted to sRGB and no profile said; without a profile
    of the photo's own colour space, or with sRGB's, its numbers as they are."""
    profile, space = stored.info.get("icc_profile"), _SPACES.get(stored.mode)
    img.info.pop("icc_profile", None)
    if not profile or space is None:
        return img
    if space == "GRAY":  # a grey photo's profile is a tone curve, the same for each channel
        tones = _tones(profile)
        alpha = list(range(256)) if img.mode == "RGBA" else []
        return img if tones is None else img.point(tones * 3 + alpha)
    transform = _transform(profile, img.mode)
    if transform is not None:
        if img.width * img.height >= SPLIT_PIXELS:  # 0.3 s at 12 MP on one thread, 0.2 on two
            in_place_by_bands(img, lambda band: _apply(band, transform), POOL)
        else:
            _apply(img, transform)
        img.info.pop("icc_profile", None)  # which littlecms set to sRGB's: said by no profile
    return img


def visible(img: Image.Image) -> Image.Image:
    """`img` with white where it is fully transparent, in place: what a file holds there is
    no one's colour, and two files that look alike must make the same mask, blur and
    background. The two masks it takes (2 bytes a pixel) stay under a PNG decode's own peak:
    a 12 MP RGBA photo's decode peaked at 142 MB with them, and at 144 made by bands."""
    if img.mode == "RGBA":
        img.paste((255, 255, 255, 0), mask=img.getchannel("A").point(lambda a: 255 * (a == 0)))
    return img


def _apply(img: Image.Image, transform: ImageCms.ImageCmsTransform) -> None:
    ImageCms.applyTransform(img, transform, inPlace=True)


@lru_cache(maxsize=16)
def _transform(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    transform = _to_srgb(profile, "RGB ", mode, mode)
    if transform is None:
        return None
    probe = Image.fromarray(_PROBE, "RGB").convert(mode)
    try:
        moved = np.asarray(ImageCms.applyTransform(probe, transform), np.int16)
    except _REFUSALS:
        return None
    return transform if np.abs(moved - np.asarray(probe, np.int16)).max() > 1 else None


@lru_cache(maxsize=16)
def _tones(profile: bytes) -> list[int] | None:
    """The sRGB level of each grey level, or None if none moves by more than one."""
    transform = _to_srgb(profile, "GRAY", "L", "RGB")
    if transform is None:
        return None
    try:
        tones = np.asarray(ImageCms.applyTransform(_RAMP, transform))[0, :, 0]
    except _REFUSALS:
        return None
    moved = np.abs(tones.astype(np.int16) - np.arange(256)).max() > 1
    return tones.tolist() if moved else None


def _to_srgb(profile: bytes, space: str, mode: str, out_mode: str):
    """littlecms's conversion to sRGB for a photo of colour `space` in `profile` without its
    floating-point tags, or None: too large, another space, or damaged."""
    if len(profile) > MAX_PROFILE_BYTES:
        return None
    edited, count = bytearray(profile), int.from_bytes(profile[128:132], "big")
    for at in range(132, min(len(profile), 132 + 12 * count), 12):
        if bytes(edited[at:at + 4]) in _FLOAT_TAGS:
            edited[at:at + 4] = b"\0\0\0\0"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(bytes(edited)))
        if source.profile.xcolor_space != space:
            return None
        return ImageCms.buildTransform(source, SRGB, mode, out_mode,
                                       ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except _REFUSALS:
        return None
