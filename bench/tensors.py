"""OpenVINO's intermediate tensors kept between photos against given back after each, in one
process.

    .venv/bin/python -m bench.tensors [--runs N] [--models u2netp,u2net] [--write]

The app keeps them for jobs of up to `runtimes.KEEP_TENSORS_UP_TO` pixels and gives them
back around larger ones (the memory budget, docs/scaling.md). This times, in turns, raw
inference and whole uploads through the app (bench/engine.py's) both ways: each timed call
follows an untimed one in the same way, so the tensors are where that way leaves them.
`--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from app.engines import runtimes
from bench.common import write_block
from bench.engine import PAGE, SIZES, photo, timed, uploader

WAYS = ("kept", "given back")


def measure(model: str, runs: int) -> list[dict]:
    (upload, app), kept_up_to = uploader(model), runtimes.KEEP_TENSORS_UP_TO
    loaded = app.extensions["services"].engines.primary.engine(model).model
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)

    def raw():
        with runtimes.room_for(0):  # a job of no pixels: large only when nothing is kept
            loaded.infer(feed)

    work = {"raw inference": raw}
    for label in ("1 MP", "4 MP"):
        data = photo(SIZES[label])
        work[f"{label} upload"] = lambda data=data: upload(data)
    times = {(what, way): [] for what in work for way in WAYS}
    try:
        for turn in range(runs):
            for way in WAYS if turn % 2 == 0 else reversed(WAYS):
                runtimes.KEEP_TENSORS_UP_TO = kept_up_to if way == "kept" else -1
                for what, call in work.items():
                    call()  # the tensors left as this way leaves them
                    times[what, way].append(timed(call))
    finally:
        runtimes.KEEP_TENSORS_UP_TO = kept_up_to
    return [{"model": model, "what": what,
             **{way: statistics.median(times[what, way]) for way in WAYS}} for what in work]


def table(rows: list[dict], runs: int) -> str:
    lines = [
        f"`python -m bench.tensors`: OpenVINO, all cores; medians of {runs} runs, the two "
        "ways taking turns; each timed call follows an untimed one the same way.", "",
        "| model | work | tensors kept | given back after each | given back ÷ kept |",
        "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['what']} | {row['kept'] * 1000:.0f} ms | "
                     f"{row['given back'] * 1000:.0f} ms | "
                     f"{row['given back'] / row['kept']:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp,u2net")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    args = parser.parse_args()
    rows = [row for model in args.models.split(",") for row in measure(model, args.runs)]
    text = table(rows, args.runs)
    print(text)
    if args.write:
        write_block(PAGE, "tensors", text)


if __name__ == "__main__":
    main()
