"""A transparent WebP result: the app's writer (colours and filtered alpha apart, one after
the other) against Pillow's own RGBA encode at the same settings (before).

    .venv/bin/python -m bench.webp_alpha [--runs 5] [--write]

For the photo of bench/engine.py at 12 MP and 1 MP, u2netp's cutout pixels (the
compositor's, bench/png_size.py) encoded both ways in turns (medians, wall and CPU), with
the bytes of each, whether the decoded alpha is exact, and the largest and mean change of a
visible pixel's colour against the pixels encoded. Also each alpha effort of the writer's
lossless stream on the filtered alpha (0 is the writer's), and without the filter.
`--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from app.images import compose, webpwriter
from bench.common import DOCS, write_block
from bench.engine import photo
from bench.png_size import cutout_pixels

SIZES = {"12 MP": (4000, 3000), "1 MP": (1152, 864)}


def _pillow(pixels: np.ndarray) -> bytes:
    return compose.encoded(Image.fromarray(pixels), "WEBP", quality=compose.WEBP_QUALITY,
                           alpha_quality=100, method=compose.WEBP_METHOD)


def _writer(pixels: np.ndarray) -> bytes:
    height, width = pixels.shape[:2]
    return webpwriter.encode(height, width, lambda top, bottom: pixels[top:bottom],
                             compose.WEBP_QUALITY, compose.WEBP_METHOD)


def _timed(fn, pixels: np.ndarray) -> tuple[bytes, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    data = fn(pixels)
    return data, time.perf_counter() - wall, time.process_time() - cpu


def _fidelity(data: bytes, pixels: np.ndarray) -> str:
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)
    visible = pixels[..., 3] > 0
    moved = np.abs(back[..., :3] - pixels[..., :3])[visible]
    exact = "exact" if np.array_equal(back[..., 3], pixels[..., 3]) else "CHANGED"
    return f"{exact} | {moved.max()} / {moved.mean():.2f}"


def _alpha_efforts(pixels: np.ndarray) -> list[str]:
    alpha = np.ascontiguousarray(pixels[..., 3])
    filtered = webpwriter._alpha_stream(alpha)
    lines = [f"filtered, effort {webpwriter._ALPHA_METHOD}: {len(filtered) / 1e3:.0f} kB"]
    for method in (1, 3):
        start = time.perf_counter()
        data = webpwriter._saved(Image.fromarray(alpha), lossless=True, quality=0,
                                 method=method)
        lines.append(f"unfiltered, effort {method}: {len(data) / 1e3:.0f} kB in "
                     f"{(time.perf_counter() - start) * 1000:.0f} ms")
    start = time.perf_counter()
    webpwriter._alpha_stream(alpha)
    lines[0] += f" in {(time.perf_counter() - start) * 1000:.0f} ms"
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [f"`python -m bench.webp_alpha --runs {args.runs}`: u2netp's transparent cutout, "
             f"quality {compose.WEBP_QUALITY}, effort {compose.WEBP_METHOD}; medians of "
             f"{args.runs} runs taking turns.", "",
             "| photo | encoder | wall | CPU | wall ÷ Pillow's | bytes | alpha "
             "| colour moved, max / mean |", "|---|---|---:|---:|---:|---:|---|---:|"]
    efforts = []
    for label, size in SIZES.items():
        pixels = cutout_pixels(photo(size), "u2netp")
        runs = {"Pillow (before)": (_pillow, [], []), "the writer": (_writer, [], [])}
        kept = {}
        for _ in range(args.runs):
            for name, (fn, walls, cpus) in runs.items():
                kept[name], wall, cpu = _timed(fn, pixels)
                walls.append(wall)
                cpus.append(cpu)
        base = statistics.median(runs["Pillow (before)"][1])
        for name, (_, walls, cpus) in runs.items():
            wall = statistics.median(walls)
            lines.append(f"| {label} | {name} | {wall * 1000:.0f} ms "
                         f"| {statistics.median(cpus) * 1000:.0f} ms | {wall / base:.2f} "
                         f"| {len(kept[name]) / 1e3:.0f} kB "
                         f"| {_fidelity(kept[name], pixels)} |")
        efforts.append(f"- {label}, the alpha alone: " + "; ".join(_alpha_efforts(pixels)))
    text = "\n".join([*lines, "", *efforts])
    print(text)
    if args.write:
        write_block(DOCS / "performance.md", "webp-alpha", text)


if __name__ == "__main__":
    main()
