"""One Python against another, in the same session: before moving the image to a newer
interpreter, check that the engine is not slower and needs no more memory on it.

    python -m bench.interpreters .venv-3.11/bin/python .venv-3.13/bin/python [--runs 15]

Each interpreter runs a worker process that makes bench/engine.py's measurements (raw model
inference on a prepared tensor; our engine end to end, JPEG in, full-size PNG out, at 0.3
to 12 MP). The workers take turns call by call, so that both see the same load on this
shared machine; the figures to read are the medians of the per-pair ratios (second ÷ first).
Peak memory is bench/engine.py's: VmHWM of a fresh process that builds the app and serves
one 12 MP upload, made by each interpreter in turn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(threads: int) -> None:
    """Answers one JSON request per line: {"op": "raw"} or {"op": "ours", "size": LABEL}."""
    import numpy as np

    from app.core.forms import OutputOptions
    from app.core.results import cut_out
    from app.engines import EngineRunner
    from app.engines.local import LocalEngine
    from app.images.decoding import Photo
    from app.images.decoding import probe as inspect
    from bench.engine import SIZES, photo
    from tests.support import model_path

    engine = LocalEngine(model_path(), threads=threads)
    runner, options = EngineRunner(engine), OutputOptions()

    def remove(data, info):
        return cut_out(runner, Photo(data, info), options).result
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    photos = {label: photo(size) for label, size in SIZES.items()}
    infos = {label: inspect(data, 10**9) for label, data in photos.items()}
    for label, data in photos.items():  # warm-up
        remove(data, infos[label])
    print(json.dumps({"python": sys.version.split()[0]}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        start = time.perf_counter()
        if request["op"] == "raw":
            engine.model.infer(feed)
        else:
            remove(photos[request["size"]], infos[request["size"]])
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


class Worker:
    def __init__(self, python: str, threads: int):
        self.process = subprocess.Popen(
            [python, "-m", "bench.interpreters", "--worker", "--threads", str(threads)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.version = json.loads(self.process.stdout.readline())["python"]

    def time(self, **request) -> float:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def peak_memory_mb(python: str, jpeg: Path) -> float:
    out = subprocess.run([python, "-m", "bench.engine", "--serve-one", str(jpeg)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="*", metavar="PYTHON", help="two interpreters")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (image: 1)")
    parser.add_argument("--memory-runs", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.threads)
        return
    if len(args.pythons) != 2:
        parser.error("name two interpreters")
    from bench.engine import SIZES, photo

    first, second = (Worker(p, args.threads) for p in args.pythons)
    requests = [("raw inference", {"op": "raw"})] + [
        (f"our engine, {label}", {"op": "ours", "size": label}) for label in SIZES]
    print(f"{first.version} → {second.version}: medians of {args.runs} turns each, "
          f"onnxruntime threads: {args.threads}")
    print(f"| measurement | Python {first.version} | Python {second.version} | ratio |")
    print("|---|---:|---:|---:|")
    for name, request in requests:
        a, b = [], []
        for turn in range(args.runs):  # who goes first alternates too
            pair = (first, second) if turn % 2 == 0 else (second, first)
            times = {worker: worker.time(**request) for worker in pair}
            a.append(times[first])
            b.append(times[second])
        ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
        print(f"| {name} | {statistics.median(a) * 1000:.0f} ms | "
              f"{statistics.median(b) * 1000:.0f} ms | {ratio:.3f} |", flush=True)
    first.close()
    second.close()
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "12mp.jpg"
        jpeg.write_bytes(photo(SIZES["12 MP"]))
        peaks = {p: [] for p in args.pythons}
        for _ in range(args.memory_runs):
            for python in args.pythons:
                peaks[python].append(peak_memory_mb(python, jpeg))
    a, b = (statistics.median(peaks[p]) for p in args.pythons)
    print(f"| peak memory, one 12 MP upload in a fresh process | {a:.0f} MB | {b:.0f} MB | "
          f"{b / a:.3f} |")


if __name__ == "__main__":
    main()
