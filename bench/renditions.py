"""The gallery renditions made from what is small against the same made from full size.

    .venv/bin/python -m bench.renditions [--runs 7] [--photos coffee,chelsea,astronaut]

For each public-domain photo (scikit-image's, enlarged to 12 MP with light noise, JPEG),
the real u2netp mask, and several looks, it makes a record's four renditions two ways in
the same process, interleaved: `thumbnails.of_result` as the app now calls it (a `Photo`:
its full decode box-reduced, composed at 320 px, more for a crop), and the way it was made
before (the full-size decode scaled to 1280 px with LANCZOS, composed there). It prints
the median time of each and the pixel difference between the two renditions (decoded
WebP, so it includes the lossy encoding's own noise): max and mean absolute difference of
the colour where both are opaque, and of the alpha.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from app.core.forms import OutputOptions
from app.images import thumbnails
from app.images.compose import picture
from app.images.decoding import Photo, probe
from bench.common import photo as make_photo

LOOKS = {"transparent": OutputOptions(), "crop": OutputOptions(crop=True, crop_margin=5),
         "color": OutputOptions(output="color", background="#1e90ff"),
         "blur": OutputOptions(output="blur")}


def from_full(full: Image.Image, mask: Image.Image, look) -> dict:
    """The renditions as they were made before: from the full-size decode."""
    work = thumbnails.scaled(full, 1280)
    made = {"original": {s: thumbnails.encode(thumbnails.scaled(work, s))
                         for s in thumbnails.SIZES}}
    result = picture(work, mask, look)
    made["processed"] = {s: thumbnails.encode(thumbnails.scaled(result, s))
                         for s in thumbnails.SIZES}
    return made


def pixels(encoded) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded.data)).convert("RGBA")).astype(int)


def difference(new: dict, old: dict) -> tuple[float, float, float, float]:
    """(max, mean) |colour difference| where both are opaque (under a faint alpha WebP's
    colour means little), (max, mean) |alpha difference| everywhere."""
    colour, alpha = [], []
    for kind in new:
        for size in thumbnails.SIZES:
            a, b = pixels(new[kind][size]), pixels(old[kind][size])
            if a.shape != b.shape:  # a crop's box a pixel apart: compare the common part
                h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
                a, b = a[:h, :w], b[:h, :w]
            seen = (a[..., 3] == 255) & (b[..., 3] == 255)
            colour.append(np.abs(a[..., :3] - b[..., :3])[seen])
            alpha.append(np.abs(a[..., 3] - b[..., 3]))
    colour, alpha = np.concatenate(colour).ravel(), np.concatenate([x.ravel() for x in alpha])
    return colour.max(), colour.mean(), alpha.max(), alpha.mean()


def main() -> None:
    from app.engines.local import LocalEngine
    from tests.support import model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--photos", default="coffee,chelsea,astronaut")
    parser.add_argument("--size", default="4000x3000", help="the photo's size, WxH")
    args = parser.parse_args()
    engine = LocalEngine(model_path("u2netp"))
    print("| photo | look | before (full size) | now (small) | saved | colour max / mean "
          "| alpha max / mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.photos.split(","):
        size = tuple(int(v) for v in args.size.split("x"))
        data = make_photo(name, size, noise=3)
        info = probe(data, 10**9)
        mask = engine.mask(Photo(data, info))
        for label, look in LOOKS.items():
            before, now = [], []
            for _ in range(args.runs):  # interleaved: both see the same machine load
                photo = Photo(data, info)
                full = photo.full()  # decoded by the upload anyway: not timed
                start = time.perf_counter()
                old = from_full(full, mask, look)
                before.append(time.perf_counter() - start)
                start = time.perf_counter()
                new = thumbnails.of_result(photo, mask, look)
                now.append(time.perf_counter() - start)
            b, n = statistics.median(before), statistics.median(now)
            cmax, cmean, amax, amean = difference(new, old)
            print(f"| {name} {size[0] * size[1] / 1e6:.0f} MP | {label} | "
                  f"{b * 1000:.0f} ms | {n * 1000:.0f} ms | "
                  f"{(b - n) * 1000:.0f} ms ({b / n:.1f}×) | {cmax} / {cmean:.2f} | "
                  f"{amax} / {amean:.2f} |", flush=True)


if __name__ == "__main__":
    main()
