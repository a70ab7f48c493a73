"""Uploads per second through gunicorn, against the model-bound ceiling, in one run.

    make bench-server     (or: .venv/bin/python -m bench.server [--seconds N] [--write]
                                [--config W:T:O ...] [--mongo-uri URI])

The app runs under gunicorn exactly as the container starts it (gunicorn.conf.py), on a
loopback port; 8 uploaders post ~1 MP photos for a bounded time. The ceiling is what the
CPU allows if it did nothing but run the model: cores ÷ single-thread inference time,
measured in this same run. The work-bound ceiling is what it allows with the work around
the model too: cores ÷ (that inference + the CPU time of one upload whose model answers at
once, measured in this process), the most any scheduling of that work could reach. What
the server itself spends is read from /proc during each run: its processes' CPU time per
upload, and the share of the cores it kept busy; beside it, two single-thread inferences
run at once, as two requests run them. Each configuration is workers:threads:onnx-threads.
More than one worker needs a real database (`--mongo-uri`), since the demo store lives in
one process.
`--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from app.hosting import tune_allocator
from app.model_files import RUNTIMES
from bench.common import DOCS, photo, start_server, write_block
from tests import processes
from tests.servers import csrf_token, stop

PAGE = DOCS / "performance.md"
DEFAULT_CONFIGS = ["1:2:1", "2:1:1", "2:2:1", "2:4:1"]


def single_thread_inference_seconds(runs: int = 9, runtime: str = RUNTIMES[0],
                                    at_once: int = 1) -> float:
    """The median time of one inference on one thread; with `at_once`, that many run
    together on one loaded model, each on its own thread (as the server's requests do)."""
    from app.engines.local import LocalEngine
    from tests.support import model_path

    engine = LocalEngine(model_path(), runtime, threads=1, streams=at_once)
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    engine.model.infer(feed)
    times = []

    def infer() -> None:
        for _ in range(runs):
            start = time.perf_counter()
            engine.model.infer(feed)
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=infer) for _ in range(at_once)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statistics.median(times)


def around_model_cpu_seconds(data: bytes, runs: int = 15) -> float:
    """CPU time, every thread counted, of one upload through the app in this process (form,
    decoding, the model's input, the cutout, renditions, the record stored) with the model's
    answer ready at once: the work each upload adds to the model's. gunicorn's parsing of
    the request is not in it."""
    from bench.engine import uploader

    # The page's default model, as drive posts; logs as the server keeps them (warnings).
    upload, app = uploader("u2netp", threads=1, log_level="WARNING")
    model = app.extensions["services"].engines.primary.engine("u2netp").model
    real, answers = model.infer, []
    # The model's real answer for this photo, given again at once: the mask, and so the
    # work of composing and encoding around it, are the server's.
    model.infer = lambda batch: answers[0] if answers else answers.append(real(batch)) or answers[0]
    try:
        for _ in range(3):
            upload(data)
        times = []
        for _ in range(runs):
            start = time.process_time()
            upload(data)
            times.append(time.process_time() - start)
    finally:
        model.infer = real  # the loaded model is shared within the process
    return statistics.median(times)


def drive(base: str, data: bytes, clients: int, seconds: float) -> dict:
    """`clients` visitors upload back to back until `seconds` have passed."""
    counts = {"ok": 0, "error": 0}
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client():
        session = requests.Session()
        token = csrf_token(session, base)
        start.wait()
        while time.monotonic() < stop_at[0]:
            try:
                response = session.post(
                    f"{base}/", data={"name": "bench", "csrf_token": token},
                    files={"image": ("p.jpg", data, "image/jpeg")},
                    headers={"Accept": "application/json"}, timeout=120)
                outcome = "ok" if response.status_code == 201 else "error"
            except requests.RequestException:
                outcome = "error"
            with lock:
                counts[outcome] += 1

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    return {**counts, "seconds": elapsed, "per_second": counts["ok"] / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--config", nargs="*", default=DEFAULT_CONFIGS,
                        help="workers:threads:onnx-threads, e.g. 1:4:1")
    parser.add_argument("--mongo-uri", default=os.environ.get("MONGO_TEST_URI", ""))
    parser.add_argument("--write", "--readme", action="store_true",
                        help="write the table to docs/performance.md")
    args = parser.parse_args()

    tune_allocator()  # every measurement in this process with the worker's malloc
    data = photo("astronaut", (1152, 864), noise=3)
    cores = len(os.sched_getaffinity(0))
    inference = single_thread_inference_seconds()
    # The ceiling the issue set its target against: the same model run by onnxruntime.
    other = single_thread_inference_seconds(runtime=RUNTIMES[1])
    around = around_model_cpu_seconds(data)
    paired = single_thread_inference_seconds(at_once=2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.config:
            workers, threads, onnx = (int(x) for x in config.split(":"))
            if workers > 1 and not args.mongo_uri:
                print(f"skip {config}: more than one worker needs --mongo-uri", file=sys.stderr)
                continue
            process, base = start_server(workers, threads, onnx, args.mongo_uri, Path(tmp))
            try:
                drive(base, data, args.clients, min(5.0, args.seconds))  # warm-up
                # The master and its workers (a worker replaced meanwhile takes its time).
                server = [process.pid, *processes.workers(process.pid)]
                spent = processes.cpu_seconds(server)
                result = drive(base, data, args.clients, args.seconds)
                spent = processes.cpu_seconds(server) - spent
                result["cpu_per_upload"] = spent / max(result["ok"], 1)
                result["busy"] = spent / (cores * result["seconds"])
            finally:
                stop(process)
            # The ceiling is measured again after each run, so both see the same machine.
            inference = statistics.median([inference, single_thread_inference_seconds()])
            other = statistics.median([other, single_thread_inference_seconds(
                runtime=RUNTIMES[1])])
            rows.append((config, result))
            print(f"{config}: {result['per_second']:.2f}/s, errors {result['error']}",
                  file=sys.stderr)

    ceiling, other_ceiling = cores / inference, cores / other
    bound = cores / (inference + around)
    lines = [
        f"`make bench-server`: gunicorn with gunicorn.conf.py on loopback, {args.clients} "
        f"uploaders of a 1 MP JPEG for {args.seconds:.0f} s per configuration; "
        f"ceiling = {cores} cores ÷ {inference * 1000:.0f} ms single-thread inference "
        f"({RUNTIMES[0]}, as the server runs it) = {ceiling:.2f} uploads/s; with "
        f"{RUNTIMES[1]}'s {other * 1000:.0f} ms, {other_ceiling:.2f} uploads/s. The work "
        f"around the model: {around * 1000:.0f} ms of CPU per upload (the app in this "
        f"process, the model answering at once), so the work-bound ceiling = {cores} cores ÷ "
        f"({inference * 1000:.0f} + {around * 1000:.0f}) ms = {bound:.2f} uploads/s, "
        f"{bound / ceiling:.2f} of the ceiling. Two single-thread inferences at once take "
        f"{paired * 1000:.0f} ms each. The server's CPU per upload and the share of the cores "
        f"it kept busy are its processes' own, read from /proc during the run.",
        "",
        f"| workers × threads × onnx threads | uploads/s | of ceiling | of work-bound ceiling | of "
        f"{RUNTIMES[1]}'s ceiling | server's CPU per upload | cores busy | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config, result in rows:
        lines.append(f"| {config.replace(':', ' × ')} | {result['per_second']:.2f} | "
                     f"{result['per_second'] / ceiling:.2f} | "
                     f"{result['per_second'] / bound:.2f} | "
                     f"{result['per_second'] / other_ceiling:.2f} | "
                     f"{result['cpu_per_upload'] * 1000:.0f} ms | {result['busy']:.2f} | "
                     f"{result['error']} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_block(PAGE, "server", text)


if __name__ == "__main__":
    main()
