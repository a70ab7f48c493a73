"""Side-by-side crops of hair, fur and a crisp rim from real photos, one PNG per photo in
assets/, for docs/quality.md: the same region cut out four ways and laid over a plain colour.

    .venv/bin/python -m bench.edge_crops [--models-dir models] [--model u2netp] [--out assets]

The photos are scikit-image's (public domain, in its wheel; no download). Each is cut out
with the model's own 320×320 mask (our engine's `predict`, the mask the app makes) and then:
the plain mask scaled up bilinearly (the app without "Refine edges"), the previous guided
filter + 640 px decontamination (issue 11), "Refine edges" now (matting.py's matte +
decontaminate), and rembg's alpha matting (bench/rembg_matting.py) - bench/quality.py's
STEPS, so the crops show what its tables measure. Each cutout is composited over a colour
that contrasts with the subject, and the crop is scaled ×2 with nearest neighbours (every
pixel of the result shown as a 2×2 block, nothing smoothed).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.quality import STEPS

ROOT = Path(__file__).resolve().parent.parent
# (step in bench/quality.py's STEPS, its label on the picture)
PANELS = [
    ("bilinear", "plain mask"),
    ("guided+despill", "guided filter (before)"),
    ("matte+despill", "Refine edges (now)"),
    ("rembg matting", "rembg alpha matting"),
]
# photo → (plain colour behind, [(crop box: left, top, right, bottom in the photo, what)])
CROPS = {
    "chelsea": ((40, 90, 200), [((330, 0, 450, 110), "the right ear's edge"),
                                ((0, 150, 120, 260), "the chest's fur and whiskers")]),
    "astronaut": ((235, 235, 120), [((140, 8, 260, 118), "the hair's left side")]),
    "coffee": ((40, 160, 220), [((370, 40, 490, 150), "a crisp rim: the spoon and saucer")]),
}
SCALE = 2
GAP, LABEL_H = 4, 22


def cutouts(photo: Image.Image, mask: Image.Image, colour) -> list[np.ndarray]:
    """The photo cut out by each panel's step and laid over `colour` (uint8 RGB arrays)."""
    out = []
    for step, _ in PANELS:
        alpha, rgb = STEPS[step][1](photo, mask)
        a = np.asarray(alpha, np.float64)[..., None] / 255
        over = a * np.asarray(rgb, np.float64) + (1 - a) * np.asarray(colour, np.float64)
        out.append(np.clip(over + 0.5, 0, 255).astype(np.uint8))
    return out


def sheet(panels: list[np.ndarray], box, caption: str) -> Image.Image:
    """The crops of `box` side by side, each labelled above, on white."""
    left, top, right, bottom = box
    w, h = (right - left) * SCALE, (bottom - top) * SCALE
    out = Image.new("RGB", (len(panels) * (w + GAP) - GAP, LABEL_H * 2 + h), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=14)
    draw.text((0, 2), caption, fill=(0, 0, 0), font=font)
    for i, (pixels, (_, label)) in enumerate(zip(panels, PANELS, strict=True)):
        crop = Image.fromarray(pixels[top:bottom, left:right])
        x = i * (w + GAP)
        out.paste(crop.resize((w, h), Image.Resampling.NEAREST), (x, LABEL_H * 2))
        draw.text((x, LABEL_H + 2), label, fill=(0, 0, 0), font=font)
    return out


def main(argv=None) -> None:
    import skimage.data

    from app.engines.local import LocalEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path,
                        default=Path(os.environ.get("BG_MODELS_DIR", ROOT / "models")))
    parser.add_argument("--model", default="u2netp", help="the app's default model")
    parser.add_argument("--out", type=Path, default=ROOT / "assets")
    args = parser.parse_args(argv)
    engine = LocalEngine(str(args.models_dir / f"{args.model}.onnx"))
    for name, (colour, boxes) in CROPS.items():
        photo = Image.fromarray(getattr(skimage.data, name)())
        panels = cutouts(photo, engine.predict(photo), colour)
        # (Pillow's built-in font has no "×".)
        rows = [sheet(panels, box, f"{name} ({photo.width}x{photo.height}), {args.model}: "
                      f"{what}, {box[2] - box[0]}x{box[3] - box[1]} px shown x{SCALE}")
                for box, what in boxes]
        out = Image.new("RGB", (max(r.width for r in rows),
                                sum(r.height for r in rows) + GAP * (len(rows) - 1)), "white")
        for i, row in enumerate(rows):
            out.paste(row, (0, sum(r.height + GAP for r in rows[:i])))
        path = args.out / f"edges_{name}.png"
        out.save(path, optimize=True)
        print(f"{path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
