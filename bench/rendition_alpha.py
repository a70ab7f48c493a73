"""A result's gallery renditions with libwebp's quantised alpha against lossless alpha.

    .venv/bin/python -m bench.rendition_alpha [--runs 9] [--photos chelsea,astronaut]

For each public-domain photo (scikit-image's, at 1 MP and 12 MP with light noise, JPEG),
the real u2netp mask and the looks that keep transparency, it makes a result's renditions
(`thumbnails.of_result`, kind "processed") both ways in the same process, taking turns:
`alpha_quality` 100 (lossless, as before) and `thumbnails.ALPHA_QUALITY`. It prints the
median wall and CPU time of each, their ratio, the bytes of both, and how far the decoded
alpha moved (max and mean over both sizes; 0 and 255 must stay exact, or it stops).
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
from app.images.decoding import Photo, probe
from bench.common import photo as make_photo

LOOKS = {"transparent": OutputOptions(), "crop": OutputOptions(crop=True, crop_margin=5)}
SIZES = {"1 MP": (1152, 864), "12 MP": (4000, 3000)}


def made(photo: Photo, mask: Image.Image, look, alpha_quality: int) -> tuple[dict, float, float]:
    """The renditions with `alpha_quality`, and the wall and CPU seconds they took."""
    kept = thumbnails.ALPHA_QUALITY
    thumbnails.ALPHA_QUALITY = alpha_quality
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        out = thumbnails.of_result(photo, mask, look, kinds=("processed",))["processed"]
        return out, time.perf_counter() - wall, time.process_time() - cpu
    finally:
        thumbnails.ALPHA_QUALITY = kept


def alpha(encoded) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(encoded.data)).getchannel("A")).astype(int)


def main() -> None:
    from app.engines.local import LocalEngine
    from tests.support import model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--photos", default="chelsea,astronaut")
    args = parser.parse_args()
    engine = LocalEngine(model_path("u2netp"))
    now = thumbnails.ALPHA_QUALITY
    print(f"`python -m bench.rendition_alpha --runs {args.runs}`: a result's two renditions "
          f"(160 and 320 px), alpha lossless against `alpha_quality` {now}; medians of "
          f"{args.runs} runs taking turns.\n")
    print("| photo | look | lossless: wall / CPU | quantised: wall / CPU | CPU ÷ lossless "
          "| bytes, lossless / quantised | alpha moved, max / mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.photos.split(","):
        for label, size in SIZES.items():
            data = make_photo(name, size, noise=3)
            info = probe(data, 10**9)
            mask = engine.mask(Photo(data, info))
            for look_name, look in LOOKS.items():
                times, kept = {100: ([], []), now: ([], [])}, {}
                for _ in range(args.runs):
                    for quality in times:
                        photo = Photo(data, info)
                        photo.full()  # decoded by the upload anyway: not timed
                        out, wall, cpu = made(photo, mask, look, quality)
                        times[quality][0].append(wall)
                        times[quality][1].append(cpu)
                        kept[quality] = out
                lossless, renditions = kept[100], kept[now]
                moved = [np.abs(alpha(renditions[s]) - alpha(lossless[s])) for s in renditions]
                for s in renditions:
                    exact = alpha(lossless[s])
                    if not np.array_equal(alpha(renditions[s])[(exact == 0) | (exact == 255)],
                                          exact[(exact == 0) | (exact == 255)]):
                        raise SystemExit(f"{name} {label} {look_name}: 0 or 255 moved")
                (lw, lc), (qw, qc) = ([statistics.median(v) * 1000 for v in times[q]]
                                      for q in (100, now))
                print(f"| {name} {label} | {look_name} | {lw:.1f} / {lc:.1f} ms | "
                      f"{qw:.1f} / {qc:.1f} ms | {qc / lc:.2f} | "
                      f"{sum(len(e.data) for e in lossless.values()):,} / "
                      f"{sum(len(e.data) for e in renditions.values()):,} | "
                      f"{max(m.max() for m in moved)} / "
                      f"{np.mean(np.concatenate([m.ravel() for m in moved])):.3f} |", flush=True)


if __name__ == "__main__":
    main()
