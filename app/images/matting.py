"""Closed-form alpha matting (Levin, Lischinski & Weiss 2008) solved only where the model is
unsure, at a reduced size: the matte behind "Refine edges".

The model's mask is right far from the edge and wrong near it, so only the pixels where it
is neither clearly 0 nor clearly 1 (plus a margin) are solved for; the rest is the trimap's
known part. Each 3×3 window's statistics are gathered only for windows that touch an unknown
pixel, the matting Laplacian is kept as a 25-point stencil per unknown pixel, and the system
is solved by conjugate gradients started from the mask. No sparse-matrix library, no
whole-image matrix: the memory is a few hundred bytes per unknown pixel at the working size.

The result is carried to full size by the matte's own local linear model (alpha ≈ a·I + b in
each window, which is what closed-form matting assumes): the coefficients are averaged over
windows, scaled up and applied to the full-size photo, as refine.py's guided filter does.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.images.resample import Resampler, working_size

# Two levels: solved at COARSE px (the longer side), carried up to FINE px and solved again
# there in the band still unsure, then carried to full size. Measured on bench/quality.py's
# composites (band MAE u2net / u2netp; rembg's full-size matting 10.38 / 12.95): one level
# at 400-560 px 10.4-10.5 / 12.8-13.0; two levels 320/640 9.73 / 11.88, 240/480 9.56 /
# 11.80, 200/400 9.50 / 11.69, 160/320 9.65 / 12.13 (with the mask as truncated then; the
# 240/480 run again with its top level 255: 9.56 / 11.78 against 10.38 / 12.99). Smaller
# sizes suit the hair proxy (its strands are thinner than a pixel) and cost crisp edges
# (retina 3.6 → 4.4 from 320/640 to 200/400); 240/480 is the middle, at 60% of 320/640's
# time.
COARSE, FINE = 240, 480
# The model is unsure where its mask is between LOW and HIGH; MARGIN working pixels more
# around that are solved for too. Wider margins helped the hair proxy and hurt crisp edges.
LOW, HIGH, MARGIN = 0.05, 0.95, 1
# At the fine level, pixels this far from any the mask is unsure of keep the mask's value.
SURE_MARGIN = 6
# Levin's epsilon (pymatting's default, what rembg uses), and the carrying model's.
EPS, CARRY_EPS = 1e-7, 1e-5
# The last model's, the one applied to the full-size photo's 8-bit colours: where the fur
# and what is behind it differ little, alpha ≈ a·I + b has a gain |a| of 10 or more, so
# every one-level step of the photo (a JPEG's flat chroma patches, an 8-bit gradient's
# contours) came out as a flat patch with a straight step of 10-25 levels (chelsea, u2netp:
# 48 px of steps of 12+ levels running 4+ px inside the soft band, runs up to 17 px; 663 at
# 12 MP; 2 and 92 at 5e-4). Windows whose colours spread less than ~sqrt(eps/9) (2 levels)
# count as flat and keep alpha's mean, as the guided filter's eps does. Band MAE on
# bench/quality.py +0.15 (u2netp 11.78 → 11.92, u2net 9.56 → 9.70); 1e-3 left 0 and 13 at
# +0.27, 2e-4 7 and 227 at +0.05.
APPLY_EPS = 5e-4
# Conjugate-gradient steps per level: the unknowns form a band a few pixels wide between
# fixed values, so it settles fast; started from the mask (coarse) or the carried matte.
ITERATIONS = (60, 30)

# The 3×3 window's offsets (dy, dx), and the 5×5 offsets two pixels of a window can differ by.
_WINDOW = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
_STENCIL = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
_CENTRE = _STENCIL.index((0, 0))
_STENCIL_OF = {offset: k for k, offset in enumerate(_STENCIL)}
# Windows whose Laplacian entries are made at once (~1.5 KB each while made).
_CHUNK = 16384


def dilated(mask: np.ndarray, steps: int) -> np.ndarray:
    """`mask` grown by `steps` pixels (8-connected: a square per step)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        out = grown
    return out


def window_coefficients(guide: np.ndarray, flat: np.ndarray, eps: float):
    """For the windows centred at the flat indices `flat` (none on the border): the
    pixels' deviations from the window's mean colour (N×9×3) and (Σ + eps/9·I)⁻¹ (N×3×3)."""
    w = guide.shape[1]
    colours = guide.reshape(-1, 3)
    g = np.stack([colours.take(flat + dy * w + dx, axis=0) for dy, dx in _WINDOW], axis=1)
    dev = g - g.mean(axis=1)[:, None]
    cov = np.matmul(dev.transpose(0, 2, 1), dev) / 9
    cov += (eps / 9) * np.eye(3)
    return dev, _inverse(cov)


def _inverse(m: np.ndarray) -> np.ndarray:
    """Inverses of symmetric positive-definite 3×3 matrices (N×3×3) by the adjugate: a few
    vector operations, where numpy's batched inverse calls LAPACK once per matrix."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 1], m[:, 1, 2], m[:, 2, 2]
    adj = np.empty_like(m)
    adj[:, 0, 0] = d * f - e * e
    adj[:, 0, 1] = adj[:, 1, 0] = c * e - b * f
    adj[:, 0, 2] = adj[:, 2, 0] = b * e - c * d
    adj[:, 1, 1] = a * f - c * c
    adj[:, 1, 2] = adj[:, 2, 1] = b * c - a * e
    adj[:, 2, 2] = a * d - b * b
    det = a * adj[:, 0, 0] + b * adj[:, 0, 1] + c * adj[:, 0, 2]
    return adj / det[:, None, None]


def solve(guide: np.ndarray, known: np.ndarray, value: np.ndarray, start: np.ndarray,
          eps: float = EPS, iterations: int = ITERATIONS[0], tol: float = 1e-4) -> np.ndarray:
    """Alpha (H×W, 0..1) minimising αᵀLα with α = `value` where `known` (H×W bools), from
    `start` where not; `guide` is H×W×3 in 0..1."""
    h, w = known.shape
    unknown = ~known
    unknown[[0, -1], :] = unknown[:, [0, -1]] = False  # border pixels keep the mask
    alpha = np.where(known, value, start).astype(np.float64)
    n = int(np.count_nonzero(unknown))
    if n == 0:
        return np.clip(alpha, 0, 1)
    index = np.full(h * w, n, np.int64)  # n: "not an unknown", a fixed value
    index[np.flatnonzero(unknown)] = np.arange(n)
    # Every window with an unknown pixel in it adds δ_pq - (1 + d_pᵀ Σ⁻¹ d_q) / 9 to L
    # between its pixels p and q; gathered a chunk of windows at a time, so a mask unsure
    # everywhere costs a few hundred bytes per unknown pixel, not a 9×9 matrix per window.
    cy, cx = np.nonzero(dilated(unknown, 1)[1:-1, 1:-1])
    centres = (cy + 1) * w + cx + 1
    stencil = np.zeros((len(_STENCIL), n))  # a row per offset: 25 weights per unknown
    for chunk in range(0, centres.size, _CHUNK):
        flat = centres[chunk:chunk + _CHUNK]
        dev, inv = window_coefficients(guide, flat, eps)
        entries = -(1 + np.matmul(np.matmul(dev, inv), dev.transpose(0, 2, 1))) / 9
        entries += np.eye(9)
        for p, (py, px) in enumerate(_WINDOW):
            rows = index.take(flat + py * w + px)
            inside = rows < n
            rows, from_p = rows[inside], entries[inside, p].T
            for q, (qy, qx) in enumerate(_WINDOW):
                # Centres are distinct, so `rows` are too: a plain indexed add is exact.
                stencil[_STENCIL_OF[qy - py, qx - px]][rows] += from_p[q]
    # Each unknown pixel's neighbours, one offset at a time (no n×25 temporaries beyond
    # the stencil and these indices): unknown ones by index, known ones, fixed, go to the
    # right-hand side. Offsets past the image's side wrap or overrun; their weight is 0.
    u_flat = np.flatnonzero(unknown)
    near_index = np.empty((len(_STENCIL), n), np.int32)
    rhs = np.zeros(n)
    values = alpha.ravel()
    for k, (dy, dx) in enumerate(_STENCIL):
        near = np.clip(u_flat + (dy * w + dx), 0, h * w - 1)
        near_index[k] = index.take(near)
        rhs -= stencil[k] * np.where(near_index[k] == n, values.take(near), 0.0)
    alpha.ravel()[u_flat] = _cg(stencil, near_index, rhs, values[u_flat], iterations, tol)
    return np.clip(alpha, 0, 1)


def _dot(u, v) -> float:
    # Not BLAS's dot: its threads spin for work this small, and the machine is shared.
    return float(np.multiply(u, v).sum())


def _cg(stencil, near_index, rhs, x, iterations, tol):
    """Jacobi-preconditioned conjugate gradients on the stencil's symmetric system."""
    n = x.size

    def apply(v):
        # Offset by offset: no n×25 temporary, and faster than one gather and reduction.
        padded = np.append(v, 0.0)
        out = stencil[0] * padded.take(near_index[0])
        for k in range(1, len(stencil)):
            out += stencil[k] * padded.take(near_index[k])
        return out

    inv_diag = 1 / np.maximum(stencil[_CENTRE], 1e-12)
    r = rhs - apply(x)
    z = r * inv_diag
    p = z.copy()
    rz = _dot(r, z)
    stop = tol * np.sqrt(_dot(rhs, rhs) + 1e-30) if n else 0
    for _ in range(iterations):
        q = apply(p)
        step = rz / _dot(p, q)
        x += step * p
        r -= step * q
        if np.sqrt(_dot(r, r)) < stop:
            break
        z = r * inv_diag
        rz, rz_old = _dot(r, z), rz
        p = z + (rz / rz_old) * p
    return x


def trimap(mask: np.ndarray, low: float, high: float, margin: int):
    """(known, value): the mask's sure pixels (≤ low or ≥ high, at least `margin` pixels
    from any unsure one) and their values, 0 or 1."""
    unsure = dilated((mask > low) & (mask < high), margin)
    return ~unsure, (mask >= 0.5).astype(np.float64)


def linear_model(guide: np.ndarray, alpha: np.ndarray, eps: float):
    """Per pixel, the mean over the 3×3 windows around it of each window's least-squares
    alpha ≈ a·I + b (a: H×W×3, b: H×W); computed only where alpha varies, a = 0 and b =
    alpha elsewhere."""
    h, w = alpha.shape
    varies = np.zeros((h, w), bool)
    varies[:, 1:] |= alpha[:, 1:] != alpha[:, :-1]
    varies[:, :-1] |= alpha[:, 1:] != alpha[:, :-1]
    varies[1:] |= alpha[1:] != alpha[:-1]
    varies[:-1] |= alpha[1:] != alpha[:-1]
    inner = dilated(varies, 1)
    inner[[0, -1], :] = inner[:, [0, -1]] = False
    flat = np.flatnonzero(inner)
    dev, inv = window_coefficients(guide, flat, eps)
    values = np.stack([alpha.ravel().take(flat + dy * w + dx) for dy, dx in _WINDOW], axis=1)
    cov = np.matmul(dev.transpose(0, 2, 1), (values - values.mean(axis=1)[:, None])[..., None]) / 9
    a = np.zeros((h * w, 3))
    a[flat] = np.matmul(inv, cov)[..., 0]
    mean_colour = guide.reshape(-1, 3).take(flat, axis=0) - dev[:, 4]  # centre pixel's dev
    b = alpha.ravel().copy()
    b[flat] = values.mean(axis=1) - (a[flat] * mean_colour).sum(axis=1)
    return box_mean(a.reshape(h, w, 3), 1), box_mean(b.reshape(h, w), 1)


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)×(2r+1) window, shrunk at the borders (cumulative sums)."""
    for axis in (0, 1):
        n = x.shape[axis]
        c = np.cumsum(x, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)
        hi = np.minimum(np.arange(n) + r + 1, n)
        lo = np.maximum(np.arange(n) - r, 0)
        shape = [1] * x.ndim
        shape[axis] = n
        x = (c.take(hi, axis=axis) - c.take(lo, axis=axis)) / (hi - lo).reshape(shape)
    return x


def matte_rows(photo: Image.Image, alpha: Image.Image, guide: np.ndarray):
    """The "Refine edges" matte band by band: rows(top, bottom, rgb) -> those rows of the
    matte (uint8) from the same rows of the photo (RGB). `alpha` is the mask at full size
    (L), `guide` the photo's RGB (0..1) reduced to at least FINE px, or the photo's size.
    Nothing of the full size is held but the four scaled-up coefficient maps' Resamplers,
    as refine's guided filter does."""
    guide = resized(guide, working_size((guide.shape[1], guide.shape[0]), FINE))
    coarse = resized(guide, working_size((guide.shape[1], guide.shape[0]), COARSE))
    coarse_size = coarse.shape[1], coarse.shape[0]
    mask = np.asarray(alpha.resize(coarse_size, Image.Resampling.BOX), np.float64) / 255
    solved = solve(coarse, *trimap(mask, LOW, HIGH, MARGIN), mask, EPS, ITERATIONS[0])
    carried = _applied(*linear_model(coarse, solved, CARRY_EPS), guide)
    # Where the mask itself is sure, it is not solved again: the carried model can dip on an
    # odd colour (a highlight) inside the subject, and solving there would open a hole (a
    # cup's highlight did, 8 px inside a mask at 255). The last model is not held at the
    # mask's value there too: that gained nothing on bench/quality.py (band MAE 14.91 /
    # 11.34 against 14.92 / 11.35 held) and turned a sure edge into the working size's
    # bilinear ramp (test_a_sure_edge_follows_the_photo_at_full_size).
    fine_size = guide.shape[1], guide.shape[0]
    sure, sure_value = trimap(np.asarray(alpha.resize(fine_size, Image.Resampling.BOX),
                                         np.float64) / 255, LOW, HIGH, SURE_MARGIN)
    known, value = trimap(carried, LOW, HIGH, MARGIN)
    known |= sure
    value[sure] = sure_value[sure]
    solved = solve(guide, known, value, carried, EPS, ITERATIONS[1])
    return carried_rows(*linear_model(guide, solved, APPLY_EPS), photo.size)


def carried_rows(a: np.ndarray, b: np.ndarray, size: tuple[int, int]):
    """A local linear model (alpha = a·rgb + b, at a reduced size) carried to full `size`:
    rows(top, bottom, rgb) -> those rows of the matte (uint8), from the same rows of the
    photo. Only the four scaled-up coefficient maps' Resamplers are kept."""
    up_b = _scaled_up(b * 255, size)
    up_a = [_scaled_up(a[..., c], size) for c in range(3)]

    def rows(top: int, bottom: int, rgb: np.ndarray) -> np.ndarray:
        q = up_b.rows(top, bottom)
        for c in range(3):
            q += up_a[c].rows(top, bottom) * rgb[..., c]
        q += 0.5
        np.clip(q, 0, 255, out=q)
        return q.astype(np.uint8)

    return rows


def resized(x: np.ndarray, size: tuple[int, int], how=Image.Resampling.BOX) -> np.ndarray:
    if x.ndim == 3:
        return np.stack([resized(x[..., c], size, how) for c in range(x.shape[2])], axis=-1)
    if (x.shape[1], x.shape[0]) == size:
        return x
    return np.asarray(Image.fromarray(x.astype(np.float32), "F").resize(size, how), np.float64)


def _applied(a: np.ndarray, b: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """The linear model a·I + b scaled up (bilinear) to the guide's size and applied."""
    size = guide.shape[1], guide.shape[0]
    out = resized(b, size, Image.Resampling.BILINEAR)
    for c in range(3):
        out += resized(a[..., c], size, Image.Resampling.BILINEAR) * guide[..., c]
    return np.clip(out, 0, 1)


def _scaled_up(x: np.ndarray, size: tuple[int, int]) -> Resampler:
    return Resampler(Image.fromarray(x.astype(np.float32), "F"), size,
                     Image.Resampling.BILINEAR)
