"""The two runtimes the local engine can use (BG_RUNTIME), on the same model files.

    .venv/bin/python -m bench.runtimes [--models u2netp,u2net] [--runs 9] [--write]

For each model and runtime, in one process and interleaved (forwards, then backwards):
raw inference on a prepared 320×320 tensor with one thread, and with the runtime's default
(all cores); then two photos at once on one thread each, as a worker with ONNX_THREADS=1
and two slots runs them, in inferences per second over `--seconds`. The masks the engine
makes with each runtime of the quality photos (bench/model_variants.py's 19) are compared
with onnxruntime's: IoU of alpha > 127 (the lowest) and the largest difference in 8-bit
levels. Peak memory (VmHWM) is read from a fresh process per runtime that loads the model
and runs two photos at once three times. `--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

from app import model_files
from bench.common import DOCS, ROOT, write_block

PAGE = DOCS / "performance.md"
RUNTIMES = model_files.RUNTIMES[::-1]  # onnxruntime first: the ratios are against it


def loaded(runtime: str, model: str, threads: int, streams: int = 1):
    from app.engines import runtimes
    from tests.support import model_path

    return runtimes.load(str(model_path(model)), runtime, threads, streams)


def at_once(model, feed: np.ndarray, seconds: float, photos: int = 2) -> float:
    """Inferences per second with `photos` running at once, back to back."""
    counts = [0] * photos
    stop = time.monotonic() + seconds

    def work(i):
        while time.monotonic() < stop:
            model.infer(feed)
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(photos)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def masks(runtime: str, model: str) -> dict[str, np.ndarray]:
    from app.engines.local import LocalEngine
    from bench.model_variants import evaluation_images
    from tests.support import model_path

    engine = LocalEngine(str(model_path(model)), runtime)
    return {name: np.asarray(engine.predict(img))
            for name, img in evaluation_images().items()}


def peak_memory_mb(runtime: str, model: str) -> float:
    out = subprocess.run([sys.executable, "-m", "bench.runtimes", "--peak", runtime, model],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])["vmhwm_mb"]


def _peak(runtime: str, model: str) -> None:
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    loaded_model = loaded(runtime, model, threads=1, streams=2)
    for _ in range(3):
        runs = [threading.Thread(target=loaded_model.infer, args=(feed,)) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(json.dumps({"vmhwm_mb": hwm / 1024}))


def measure(model: str, runs: int, seconds: float) -> list[dict]:
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    one = {r: loaded(r, model, threads=1) for r in RUNTIMES}
    default = {r: loaded(r, model, threads=0) for r in RUNTIMES}
    two = {r: loaded(r, model, threads=1, streams=2) for r in RUNTIMES}
    for m in (*one.values(), *default.values(), *two.values()):
        m.infer(feed)  # warm-up: the first run allocates
    times = {(r, kind): [] for r in RUNTIMES for kind in ("one", "default")}
    for turn in range(runs):
        order = RUNTIMES if turn % 2 == 0 else RUNTIMES[::-1]
        for r in order:
            for kind, models in (("one", one), ("default", default)):
                begin = time.perf_counter()
                models[r].infer(feed)
                times[(r, kind)].append(time.perf_counter() - begin)
    rates = {r: [] for r in RUNTIMES}
    for turn in range(2):
        for r in RUNTIMES if turn % 2 == 0 else RUNTIMES[::-1]:
            rates[r].append(at_once(two[r], feed, seconds / 2))
    reference = masks(RUNTIMES[0], model)
    rows = []
    for r in RUNTIMES:
        made = reference if r == RUNTIMES[0] else masks(r, model)
        ious, levels = [], 0
        for name, mask in made.items():
            a, b = mask > 127, reference[name] > 127
            union = np.logical_or(a, b).sum()
            ious.append(float(np.logical_and(a, b).sum() / union) if union else 1.0)
            levels = max(levels, int(np.abs(mask.astype(int) - reference[name]).max()))
        rows.append({
            "model": model, "runtime": r,
            "one_ms": statistics.median(times[(r, "one")]) * 1000,
            "default_ms": statistics.median(times[(r, "default")]) * 1000,
            "two_per_s": statistics.mean(rates[r]), "iou_min": min(ious), "levels": levels,
            "peak_mb": peak_memory_mb(r, model), "photos": len(made)})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], runs: int, seconds: float) -> str:
    base = {r["model"]: r for r in rows if r["runtime"] == RUNTIMES[0]}
    lines = [
        f"`python -m bench.runtimes`: raw inference on a prepared 320×320 tensor, medians of "
        f"{runs} interleaved runs; two photos at once on one thread each for {seconds:.0f} s; "
        f"masks of {rows[0]['photos']} quality photos against onnxruntime's; peak memory "
        "of a fresh process running two photos at once.",
        "",
        "| model | runtime | 1 thread | speed-up | all cores | speed-up | two at once | "
        "speed-up | mask IoU, lowest | largest difference | peak memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = base[r["model"]]
        lines.append(
            f"| {r['model']} | {r['runtime']} | {r['one_ms']:.0f} ms | "
            f"{b['one_ms'] / r['one_ms']:.2f}× | {r['default_ms']:.0f} ms | "
            f"{b['default_ms'] / r['default_ms']:.2f}× | {r['two_per_s']:.2f}/s | "
            f"{r['two_per_s'] / b['two_per_s']:.2f}× | {r['iou_min']:.4f} | "
            f"{r['levels']} of 255 | {r['peak_mb']:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp,u2net")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    parser.add_argument("--peak", nargs=2, metavar=("RUNTIME", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:
        _peak(*args.peak)
        return
    rows = []
    for model in args.models.split(","):
        rows += measure(model, args.runs, args.seconds)
    text = table(rows, args.runs, args.seconds)
    print(text)
    if args.write:
        write_block(PAGE, "runtimes", text)


if __name__ == "__main__":
    main()
