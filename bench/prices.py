"""What the admission's line prices a job at, against what it takes: whole uploads of four
sizes with each model, and the models' raw inference, in one process.

    .venv/bin/python -m bench.prices [--runs 5] [--write]

Through the app (the page's JSON upload of scikit-image's astronaut with light noise, PNG,
record stored, renditions made), the models taking turns, each for its four sizes after
its raw inference; medians. A straight
line through each model's four times gives its fixed part and its time per megapixel; the
fixed part less the model's raw inference (its 320×320 tensor alone) is what any job costs
around the model (`_FIXED_MEGAPIXELS`), and the inference over the time per megapixel is
the model's `inference_megapixels` in the runtime (`--runtime`: openvino, or onnxruntime).
The last columns say how far the line's price, without and with the inference, is from each
time: the ratio of time to priced megapixels over the model's mean (1.00 everywhere is a
price in proportion to the time). `--write`
puts the table in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np

from app.engines.admission import _FIXED_MEGAPIXELS, Work
from app.model_files import MODELS, RUNTIMES
from bench.common import DOCS, photo, uploads_app, write_block

SIZES = [(640, 480), (1152, 864), (2304, 1728), (4000, 3000)]


def _spread(seconds: list[float], priced: list[float]) -> list[float]:
    """Each job's seconds per priced megapixel over their mean."""
    rates = [s / p for s, p in zip(seconds, priced, strict=True)]
    return [rate / statistics.mean(rates) for rate in rates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runtime", choices=RUNTIMES, default=RUNTIMES[0])
    parser.add_argument("--write", action="store_true", help="(the default runtime's table)")
    args = parser.parse_args()
    app = uploads_app(demo_store_mb=10**5, bg_runtime=args.runtime)
    client, local = app.test_client(), app.extensions["services"].engines.primary
    photos = {size: photo("astronaut", size, noise=3) for size in SIZES}
    times: dict[tuple[str, tuple[int, int]], list[float]] = {}
    raw: dict[str, list[float]] = {name: [] for name in MODELS}
    for run in range(args.runs + 1):  # the first round loads the models and warms up
        for name in MODELS:
            model = local.engine(name).model
            feed = np.random.default_rng(run).random((1, 3, *model.input_size[::-1]),
                                                     dtype=np.float32)
            # A first call after the other model's work maps its tensors again (a worker
            # that runs one model does not): then two, the second timed.
            for _ in range(2):
                started = time.perf_counter()
                model.infer(feed)
            if run:
                raw[name].append(time.perf_counter() - started)
            for size, data in photos.items():
                started = time.perf_counter()
                answer = client.post("/", data={"name": "bench", "model": name,
                                                "image": (io.BytesIO(data), "a.jpg")},
                                     headers={"Accept": "application/json"})
                assert answer.status_code == 201, answer.get_json()
                if run:
                    times.setdefault((name, size), []).append(time.perf_counter() - started)
                client.delete(f"/remove/{answer.get_json()['id']}",
                              headers={"Accept": "application/json"})
    lines = [f"`python -m bench.prices --runs {args.runs}`: whole uploads through the app "
             f"({args.runtime}) "
             f"(PNG, the default look), medians of {args.runs} taking turns; a line through "
             "each model's four times. The spread columns: each job's time per priced "
             "megapixel over the model's mean, priced as before 2026-12-07 (2 + MP) and now "
             "(2 + the model's `inference_megapixels` in this runtime + MP).", "",
             "| model | photo | upload | raw inference | fixed part | per MP | inference "
             "in MP (catalogue) | spread, 2 + MP | spread, now |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, model in MODELS.items():
        megapixels = [w * h / 1e6 for w, h in SIZES]
        seconds = [statistics.median(times[name, size]) for size in SIZES]
        per_mp, fixed = np.polyfit(megapixels, seconds, 1)
        inference = statistics.median(raw[name])
        # As the line prices them: without the inference (as before), and with it.
        priced = model.inference_megapixels(args.runtime)
        before = _spread(seconds, [Work(w * h).megapixels for w, h in SIZES])
        now = _spread(seconds, [Work(w * h, inference=priced).megapixels for w, h in SIZES])
        for size, mp, wall, old, new in zip(SIZES, megapixels, seconds, before, now,
                                            strict=True):
            lines.append(
                f"| {name} | {mp:.1f} MP ({size[0]}×{size[1]}) | {wall * 1000:.0f} ms "
                f"| {inference * 1000:.0f} ms | {fixed * 1000:.0f} ms "
                f"| {per_mp * 1000:.1f} ms | {inference / per_mp:.1f} "
                f"({priced:g}) | {old:.2f} | {new:.2f} |")
        print(f"{name}: around the model {(fixed - inference) / per_mp:.1f} MP's worth "
              f"(_FIXED_MEGAPIXELS {_FIXED_MEGAPIXELS:g})", flush=True)
    text = "\n".join(lines)
    if args.write and args.runtime == RUNTIMES[0]:
        write_block(DOCS / "scaling.md", "prices", text)
    print(text)


if __name__ == "__main__":
    main()
