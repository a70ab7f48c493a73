"""The transparent result's pixels, made as they ship against as they were, in one process.

    .venv/bin/python -m bench.alpha [--runs 15]

`compose.render` of the default look (transparent PNG) for bench/engine.py's photo at 1 and
12 MP, over a mask with a soft edge, with the compositor's `_with_alpha` as it ships
(Pillow merges the channels) and as it was (numpy's strided copies into a 4-channel array),
in turns. Both must write the same bytes. Wall time shows the latency of one upload; CPU
time (every thread of the process) what a busy server pays.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from types import SimpleNamespace

import numpy as np
from PIL import Image

from app.images import compose
from bench.engine import photo

SIZES = {"1 MP": (1152, 864), "12 MP": (4000, 3000)}
LOOK = SimpleNamespace(output="transparent", background=None, crop=False, crop_margin=0,
                       format="png", refine_edges=False)


def before(rgb: np.ndarray, matte: np.ndarray) -> np.ndarray:
    pixels = np.empty((*matte.shape, 4), np.uint8)
    pixels[..., :3] = rgb
    pixels[..., 3] = matte
    words = pixels.view(np.uint32).reshape(matte.shape)
    words *= matte != 0
    return pixels


def mask() -> Image.Image:
    """A subject in the middle, with a ramp of ten columns at its edges, at the model's size."""
    alpha = np.zeros((240, 320), np.uint8)
    alpha[40:, 90:230] = 255
    alpha[40:, 80:90] = alpha[40:, 230:240][:, ::-1] = np.arange(0, 250, 25, np.uint8)
    return Image.fromarray(alpha)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ships = compose._with_alpha
    print("| photo | wall, before | wall, ships | ÷ | CPU, before | CPU, ships | ÷ |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, size in SIZES.items():
        img = Image.open(io.BytesIO(photo(size)))
        img.load()
        wall, cpu, made = {"before": [], "ships": []}, {"before": [], "ships": []}, {}
        for _ in range(args.runs):
            for name, function in (("before", before), ("ships", ships)):
                compose._with_alpha = function
                started, cpu_started = time.perf_counter(), time.process_time()
                made[name] = compose.render(img, mask(), LOOK).data
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
        compose._with_alpha = ships
        assert made["before"] == made["ships"], "the two ways wrote different files"
        w = {name: statistics.median(times) * 1000 for name, times in wall.items()}
        c = {name: statistics.median(times) * 1000 for name, times in cpu.items()}
        print(f"| {label} | {w['before']:.1f} ms | {w['ships']:.1f} ms | "
              f"{w['ships'] / w['before']:.2f} | {c['before']:.1f} ms | {c['ships']:.1f} ms | "
              f"{c['ships'] / c['before']:.2f} |")


if __name__ == "__main__":
    main()
