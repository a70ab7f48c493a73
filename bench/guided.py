"""The previous "Refine edges": a fast guided filter, kept for bench/quality.py's
comparison with the closed-form matting that replaced it (app/images/matting.py).

A guided filter (He, Sun & Tang) with the photo's colours as the guide and the mask, cut at
one half, as the input: the output is locally a linear function of the photo's colours, so
the edge lands where the photo's edge is, with the photo's own softness. It is computed at
a reduced size and its coefficients are scaled up and applied to the full-size photo (He &
Sun's "fast guided filter"): the cost at full size is one multiply-add per channel per pixel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.images.matting import box_mean, carried_rows, matte_rows
from app.images.refine import (
    DECONTAMINATE_RADII,
    DECONTAMINATE_SIZE,
    WORK_SIZE,
    despill_rows,
    reduced_photo,
)
from app.images.refine import _reduced as reduced
from app.images.resample import working_size as work_size_of


def check(photo: Image.Image, alpha: Image.Image) -> None:
    if alpha.mode != "L" or alpha.size != photo.size:
        raise ValueError("alpha must be an L image of the photo's size")


def rgb_of(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def matte(photo: Image.Image, alpha: Image.Image) -> Image.Image:
    """"Refine edges"' matte (app/images/matting.py) as one image, from the full-size mask."""
    check(photo, alpha)
    rows = matte_rows(photo, alpha, reduced_photo(photo, work_size_of(photo.size, WORK_SIZE)))
    return Image.fromarray(rows(0, photo.height, np.asarray(rgb_of(photo))), "L")


def decontaminate(photo: Image.Image, alpha: Image.Image, work_size: int = DECONTAMINATE_SIZE,
                  radii: tuple[int, ...] = DECONTAMINATE_RADII) -> Image.Image:
    """refine.despill_rows as one RGB image."""
    check(photo, alpha)
    rows = despill_rows(photo, np.asarray(alpha), work_size, radii)
    return Image.fromarray(rows(0, photo.height, 0, photo.width, np.asarray(rgb_of(photo))),
                           "RGB")

# Window radius at the working size (a 9×9 window: two mask pixels either side of an edge)
# and regularisation (colour differences below ~sqrt(EPS) of the range count as flat).
RADIUS = 4
EPS = 3e-4


def refine(photo: Image.Image, alpha: Image.Image, work_size: int = WORK_SIZE,
           radius: int = RADIUS, eps: float = EPS) -> Image.Image:
    """The matte `alpha` (L, the photo's size) snapped to the photo's edges; an L image."""
    check(photo, alpha)
    rgb = np.asarray(rgb_of(photo))
    rows = guided_rows(photo, alpha, work_size, radius, eps)
    return Image.fromarray(rows(0, photo.height, rgb), "L")


def guided_rows(photo: Image.Image, alpha: Image.Image, work_size: int = WORK_SIZE,
                radius: int = RADIUS, eps: float = EPS, guide: np.ndarray | None = None):
    """`refine` band by band: rows(top, bottom, rgb) -> those rows of the refined matte
    from the same rows of the photo (RGB). The filter runs once, at the working size; each
    band scales its coefficients up (resample.Resampler: Pillow's pixels) and applies them,
    so no full-size float map exists."""
    small = work_size_of(photo.size, work_size)
    guide = reduced_photo(photo, small) if guide is None else guide
    p = (reduced(alpha, small) > 0.5).astype(np.float64)
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(p, radius)
    cov_ip = box_mean(guide * p[..., None], radius) - mean_i * mean_p[..., None]
    a = _solve_3x3(_covariance(guide, mean_i, radius, eps), cov_ip)
    b = mean_p - (a * mean_i).sum(axis=-1)
    return carried_rows(box_mean(a, radius), box_mean(b, radius), photo.size)


def _covariance(guide, mean_i, radius, eps) -> dict:
    """The guide's 3×3 colour covariance per pixel, plus eps on the diagonal."""
    s = {}
    for i in range(3):
        for j in range(i, 3):
            s[i, j] = (box_mean(guide[..., i] * guide[..., j], radius)
                       - mean_i[..., i] * mean_i[..., j])
            if i == j:
                s[i, j] += eps
    return s


def _solve_3x3(s: dict, rhs: np.ndarray) -> np.ndarray:
    """Per pixel, x with S x = rhs for the symmetric S in `s`, by the adjugate."""
    adj = {
        (0, 0): s[1, 1] * s[2, 2] - s[1, 2] ** 2,
        (0, 1): s[0, 2] * s[1, 2] - s[0, 1] * s[2, 2],
        (0, 2): s[0, 1] * s[1, 2] - s[0, 2] * s[1, 1],
        (1, 1): s[0, 0] * s[2, 2] - s[0, 2] ** 2,
        (1, 2): s[0, 2] * s[0, 1] - s[0, 0] * s[1, 2],
        (2, 2): s[0, 0] * s[1, 1] - s[0, 1] ** 2,
    }
    det = s[0, 0] * adj[0, 0] + s[0, 1] * adj[0, 1] + s[0, 2] * adj[0, 2]
    return np.stack([sum(adj[min(i, j), max(i, j)] * rhs[..., j] for j in range(3)) / det
                     for i in range(3)], axis=-1)
