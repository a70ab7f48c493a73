"""The model's input made cheaper by Pillow's `reducing_gap` (a box reduction, then LANCZOS
for the rest), against the plain LANCZOS resize rembg and the app use: the resize's time, and
how far the masks move (IoU of alpha > 127, and the largest change of a mask value).

    .venv/bin/python -m bench.input_resize [--gaps 3,2,1.5] [--runs 7]

Timings are medians of the two resizes taking turns in this process; read the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from app.engines.local import LocalEngine
from app.images.decoding import decode
from bench import composites
from bench.common import photo
from bench.model_variants import iou  # of alpha > 0.5
from tests.support import MODELS_DIR

SIZES = ((1152, 864), (4000, 3000))
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
SCENES = (("horse", "grass"), ("furry", "brick"), ("retina", "hubble"))


def mask_of(engine: LocalEngine, small: Image.Image) -> np.ndarray:
    return np.asarray(engine.predict_resized(small))


def images() -> list[tuple[str, Image.Image]]:
    made = []
    for size in SIZES:
        label = f"{size[0]}x{size[1]}"
        made += [(f"{name} {label}", decode(photo(name, size))) for name in PHOTOS]
        made += [(f"{s}/{b} {label}", composites.composite(s, b, size).image.convert("RGB"))
                 for s, b in SCENES]
    return made


def resize_ms(img: Image.Image, size: tuple[int, int], gap: float,
              runs: int) -> tuple[float, float]:
    plain, reduced = [], []
    for _ in range(runs):
        for gap_now, times in ((None, plain), (gap, reduced)):
            start = time.perf_counter()
            img.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap_now)
            times.append(time.perf_counter() - start)
    return statistics.median(plain) * 1000, statistics.median(reduced) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gaps", default="3,2,1.5")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    gaps = [float(gap) for gap in args.gaps.split(",")]
    shown = images()
    print("| model | reducing_gap | resize at 1 MP | at 12 MP | mask IoU, lowest (photo) "
          "| largest change of a mask value |")
    print("|---|---:|---:|---:|---|---:|")
    for model in ("u2netp", "u2net"):
        engine = LocalEngine(str(MODELS_DIR / f"{model}.onnx"))
        size = engine.input_size
        for gap in gaps:
            times = []
            for wanted in SIZES:
                img = next(img for _, img in shown if img.size == wanted)
                plain, reduced = resize_ms(img, size, gap, args.runs)
                times.append(f"{reduced:.1f} ms of {plain:.1f} ({plain / reduced:.1f}×)")
            scores = []
            for label, img in shown:
                ref = mask_of(engine, img.resize(size, Image.Resampling.LANCZOS))
                moved = mask_of(engine, img.resize(size, Image.Resampling.LANCZOS,
                                                   reducing_gap=gap))
                change = int(np.abs(ref.astype(int) - moved.astype(int)).max())
                scores.append((iou(ref / 255, moved / 255), label, change))
            lowest = min(scores)
            print(f"| {model} | {gap:g} | {times[0]} | {times[1]} | {lowest[0]:.3f} "
                  f"({lowest[1]}) | {max(change for *_, change in scores)} |")


if __name__ == "__main__":
    main()
