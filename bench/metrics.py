"""How far a predicted matte (and cutout colours) are from the known ground truth.

All alpha errors are in alpha levels (0-255), colour errors in RGB levels (0-255) averaged
over the three channels. Colour error: the cutout laid over a new (white) background against
the true subject laid over it, in the band: it counts wrong alpha and wrong colours alike.
Foreground colour error: |predicted colour - true subject colour| weighted by the true
alpha, in the band: the background colour left in the subject's edge, which despill targets.

The boundary band is every pixel within BAND_PX pixels of the true edge, where the true
edge is every pixel of fractional true alpha (antialiased rims, fur strands, feathering)
plus the contour of alpha > 0.5. BAND_PX = 10 at 1 MP is about three
of the model's 320×320 output pixels after upscaling: where a mask's edge errors live.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BAND_PX = 10
NEW_BACKGROUND = np.array([255, 255, 255], np.float32)  # white, as product photos use


def band(alpha: np.ndarray, width: int = BAND_PX) -> np.ndarray:
    """Pixels within `width` px of the true edge of a 0..1 alpha."""
    inside = alpha > 0.5
    contour = inside ^ ndimage.binary_erosion(inside)
    edge = contour | ((alpha > 0) & (alpha < 1))
    return ndimage.distance_transform_edt(~edge) <= width


def scores(true_alpha: np.ndarray, true_fg: np.ndarray, alpha: np.ndarray,
           colour: np.ndarray, in_band: np.ndarray) -> dict:
    """`alpha`: predicted L array (uint8); `colour`: predicted cutout RGB (uint8)."""
    truth = np.rint(true_alpha * 255)
    pred = alpha.astype(np.float32)
    error = np.abs(pred - truth)
    t, p = truth > 127, pred > 127
    union = np.count_nonzero(t | p)
    # The cutout over a new background against the true subject over it, in the band.
    a_true = true_alpha[in_band][:, None]
    a_pred = pred[in_band][:, None] / 255
    over_true = a_true * true_fg[in_band] + (1 - a_true) * NEW_BACKGROUND
    over_pred = a_pred * colour[in_band].astype(np.float32) + (1 - a_pred) * NEW_BACKGROUND
    return {
        "iou": np.count_nonzero(t & p) / union if union else 1.0,
        "mae": float(error.mean()),
        "mae_band": float(error[in_band].mean()),
        "mae_out": float(error[~in_band].mean()),
        "colour_band": float(np.abs(over_pred - over_true).mean()),
        # The subject's colours alone (weighted by true alpha): what despill is for.
        "fg_band": float((a_true * np.abs(colour[in_band] - true_fg[in_band])).mean()),
    }
