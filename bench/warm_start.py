"""A worker's start with and without its warm-up (gunicorn.conf.py's post_worker_init), in
turns in one session: seconds until /health answers, and the first uploads' times after it.

    python -m bench.warm_start [--runs 3] [--uploads 3]

The run without is gunicorn.conf.py with post_worker_init replaced by one that does
nothing (a config file of two lines beside it); everything else is the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.common import ROOT, photo
from bench.jobs import Client
from tests.servers import free_port

WITHOUT = f"""import runpy
globals().update(runpy.run_path({str(ROOT / "gunicorn.conf.py")!r}))
def post_worker_init(worker):
    pass
"""


def one_start(config: Path, folder: Path, data: bytes, uploads: int) -> list[float]:
    """[seconds to /health, then each upload's seconds]."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "X_RAPID_API_KEY")}
    env.update(APP_SECRET_KEY="bench-secret-key-0123456789", PORT=str(port), LOG_LEVEL="warning",
               USER_LIMIT="1000", PYTHONPATH=str(ROOT), BG_ENGINE="local")
    base = f"http://127.0.0.1:{port}"
    began = time.monotonic()
    process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--config",
                                str(config)], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited at start")
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.05)
        times = [time.monotonic() - began]
        client = Client(base)
        for _ in range(uploads):
            started = time.monotonic()
            record = client.upload(data)
            times.append(time.monotonic() - started)
            client.delete(record)
        return times
    finally:
        process.terminate()
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=3)
    args = parser.parse_args()
    data = photo("astronaut", (1024, 1024))  # about 1 MP
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        without = folder / "without-warm-up.conf.py"
        without.write_text(WITHOUT)
        configs = {"warm-up": ROOT / "gunicorn.conf.py", "none": without}
        seen: dict[str, list[list[float]]] = {name: [] for name in configs}
        for _ in range(args.runs):  # in turns, so that both see the same machine
            for name, config in configs.items():
                seen[name].append(one_start(config, folder, data, args.uploads))
    columns = ["ready"] + [f"upload {n + 1}" for n in range(args.uploads)]
    print(f"medians of {args.runs} starts, seconds; 1 MP uploads one after another")
    print("| start | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    medians = {name: [statistics.median(run[i] for run in runs) for i in range(len(columns))]
               for name, runs in seen.items()}
    for name, values in medians.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    ratios = [w / n for w, n in zip(medians["warm-up"], medians["none"], strict=True)]
    print("| warm-up ÷ none | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
