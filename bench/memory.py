"""Memory and time of the container's server, as the Kubernetes sizing needs them.

    .venv/bin/python -m bench.memory [--mongo-uri URI] [--workers N] [--threads N] [--big WxH]
                                     [--jobs-only] [--write]

Runs the Dockerfile's CMD with its ENV (as tests/system/test_container.py does) on a loopback
port, and through real HTTP measures:
  - start-up: process start to the first 200 from /health (the model load included);
  - each worker's resident memory when idle, and its peak (VmHWM from /proc) after one
    large JPEG (12 MP by default), after a few more, and with every thread of every worker
    sent one at once (those the admission answers 503 busy sent again after Retry-After):
    the worst case a pod meets;
  - how long /health takes while large uploads run (what the probes meet);
  - the time and the worker CPU time (utime + stime from /proc) of one ~1 MP upload, and
    uploads/s with every thread of every worker busy;
  - then, on a fresh server with one worker, each kind of job alone (bench/jobs.py): an
    upload, an upload over a background with refined edges and a re-render, at 12 and
    49.7 MP, plus the 49.7 MP case of the issue as small flat PNGs: the peak per pixel and
    the idle RSS before and after (--write puts that table in docs/scaling.md).

Without --mongo-uri the app keeps images in its in-process demo store, so the peak also
holds the stored bytes (printed): an overestimate of what a worker with MongoDB needs.
gunicorn then runs one worker, as gunicorn.conf.py does without MONGO_URI. Numbers from a
shared 2-core machine are noisy: run it twice and compare.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench import jobs
from bench.common import DOCS, SECRET_KEY, photo, write_block
from tests import dockerfile
from tests.processes import cpu_seconds, memory, workers
from tests.servers import csrf_token, free_port, start, stop

MB = 1024 * 1024


class Visitor:
    """One browser: its own cookie and CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        self.token = csrf_token(self.session, base)
        self.refused = 0  # uploads answered 503 busy, and sent again

    def upload(self, data: bytes) -> dict:
        """The upload's record; when the admission's line is full (503 busy), sent again
        after its Retry-After, as a client should."""
        while True:
            response = self.session.post(
                f"{self.base}/", data={"name": "bench", "csrf_token": self.token},
                files={"image": ("photo.jpg", data, "image/jpeg")},
                # A fresh connection each time: a kept-alive one that gunicorn closes after
                # 5 s idle can be reused by the client then, and a POST is not retried.
                headers={"Accept": "application/json", "Connection": "close"}, timeout=300)
            if response.status_code != 503:
                break
            self.refused += 1
            time.sleep(int(response.headers["Retry-After"]))
        assert response.status_code == 201, (response.status_code, response.text[:300])
        return response.json()

    def delete(self, record: dict) -> None:
        response = self.session.delete(f"{self.base}/remove/{record['id']}",
                                       headers={"X-CSRFToken": self.token}, timeout=30)
        assert response.status_code == 200, response.status_code


def stored_bytes(record: dict) -> int:
    return record["original"]["size"] + record["processed"]["size"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mongo-uri", default="", help="measure with this MongoDB")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: the image's)")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: the image's)")
    parser.add_argument("--onnx-threads", type=int, help="ONNX_THREADS (default: the image's)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="large uploads per worker, one at a time, after the first")
    parser.add_argument("--runs", type=int, default=7, help="sequential ~1 MP uploads")
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds of concurrent ~1 MP uploads for the throughput")
    parser.add_argument("--big", default="4000x3000", help="the large photo, WxH")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="another variable for the server (repeat as needed)")
    parser.add_argument("--jobs-only", action="store_true",
                        help="only the per-megapixel table of each kind of job")
    parser.add_argument("--write", action="store_true",
                        help="write that table into docs/scaling.md")
    args = parser.parse_args()

    stage = dockerfile.final_stage()
    port = free_port()
    overrides = {"APP_SECRET_KEY": SECRET_KEY, "PORT": str(port),
                 "USER_LIMIT": "1000", "UPLOAD_RATE_LIMIT": "1000 per minute",
                 "UPLOAD_RATE_LIMIT_IP": "1000 per minute"}
    if args.mongo_uri:
        overrides["MONGO_URI"] = args.mongo_uri
    for name, value in (("GUNICORN_THREADS", args.threads), ("WEB_CONCURRENCY", args.workers),
                        ("ONNX_THREADS", args.onnx_threads)):
        if value is not None:
            overrides[name] = str(value)
    overrides.update(pair.split("=", 1) for pair in args.env)
    env = dockerfile.image_env(stage, **overrides)
    threads = int(env["GUNICORN_THREADS"])
    if not args.jobs_only:
        whole_server(args, stage, env, threads)
    per_job(stage, {**env, "WEB_CONCURRENCY": "1"}, args.write)


def per_job(stage, env: dict, write: bool) -> None:
    sizes = {"12 MP JPEG": (photo("astronaut", (4000, 3000), quality=85),
                            photo("coffee", (4000, 3000), quality=85)),
             "49.7 MP JPEG": (photo("astronaut", (8640, 5760), quality=85),
                              photo("coffee", (8640, 5760), quality=85)),
             "49.7 MP flat PNG": (jobs.flat_png((8640, 5760)),
                                  jobs.flat_png((8640, 5760), seed=1))}
    with tempfile.TemporaryDirectory() as folder:
        workdir = dockerfile.lay_out(stage, Path(folder))
        process, base = start(stage.cmd, env, int(env["PORT"]), workdir)
        try:
            (pid,) = workers(process.pid)
            warm = jobs.Client(base)  # the model loaded, the first request's imports done
            warm.delete(warm.upload(photo("astronaut", (1024, 1024), quality=85)))
            started = jobs.settled_rss(pid)
            rows = jobs.per_megapixel(base, pid, sizes)
        finally:
            stop(process)
    sent = ", ".join(f"{label} {len(p) / MB:.1f} + {len(b) / MB:.1f} MB"
                     for label, (p, b) in sizes.items())
    text = (f"`bench/memory.py` (`--jobs-only`): one worker (`WEB_CONCURRENCY=1`) of the "
            f"Dockerfile's CMD, model u2netp, each job alone; idle RSS {started / MB:.0f} "
            f"MiB after a 1 MP warm-up. Files sent (photo + background): {sent}. Peak per "
            f"pixel: (VmHWM − idle before) ÷ the photo's pixels.\n\n"
            + "\n".join(f"**{label}**\n\n" + jobs.table([r for r in rows
                                                         if r.job.startswith(label + ":")])
                        + "\n" for label in sizes))
    print(text)
    if write:
        write_block(DOCS / "scaling.md", "memory-jobs", text.rstrip())


def whole_server(args, stage, env: dict, threads: int) -> None:
    port = int(env["PORT"])

    big = photo("astronaut", tuple(map(int, args.big.split("x"))), noise=4, quality=92)
    small = photo("astronaut", (1024, 1024), noise=4, seed=1, quality=92)
    with tempfile.TemporaryDirectory() as folder:
        workdir = dockerfile.lay_out(stage, Path(folder))
        began = time.perf_counter()
        process, base = start(stage.cmd, env, port, workdir)
        startup = time.perf_counter() - began
        try:
            pids = workers(process.pid)
            # Every worker has loaded its model once it answers; ask each a few times.
            for _ in range(4 * len(pids)):
                requests.get(f"{base}/ready", timeout=30)
            idle = {pid: memory(pid)["VmRSS"] for pid in pids}

            one = Visitor(base)
            began = time.perf_counter()
            record = one.upload(big)
            big_seconds = time.perf_counter() - began
            stored_one = stored_bytes(record)
            one.delete(record)
            peak_one = max(memory(pid)["VmHWM"] for pid in pids)
            # The allocator keeps freed memory and reuses it unevenly: the peak settles only
            # after a few uploads have passed through every worker.
            for _ in range(args.repeat * len(pids)):
                one.delete(one.upload(big))
            peak_repeat = max(memory(pid)["VmHWM"] for pid in pids)

            visitors = [Visitor(base) for _ in range(threads * len(pids))]

            def together(group: list[Visitor]) -> tuple[list[dict], float]:
                """Large uploads from `group` at once, and a /health request half a second
                later: what a probe meets while they run."""
                barrier = threading.Barrier(len(group))

                def send(visitor: Visitor) -> dict:
                    barrier.wait()
                    return visitor.upload(big)

                with ThreadPoolExecutor(len(group)) as pool:
                    futures = [pool.submit(send, visitor) for visitor in group]
                    time.sleep(0.5)
                    began = time.perf_counter()
                    requests.get(f"{base}/health", timeout=60)
                    probe = time.perf_counter() - began
                    records = [future.result() for future in futures]
                for visitor, rec in zip(group, records, strict=True):
                    visitor.delete(rec)
                return records, probe

            _, probe_some = together(visitors[:len(pids)])
            records, probe_all = together(visitors)
            refused = sum(visitor.refused for visitor in visitors)
            stored_many = sum(stored_bytes(r) for r in records)
            peak_many = {pid: memory(pid)["VmHWM"] for pid in pids}

            times = []
            cpu_before = cpu_seconds(pids)
            for _ in range(args.runs):
                began = time.perf_counter()
                one.delete(one.upload(small))
                times.append(time.perf_counter() - began)
            one_mp = statistics.median(times)
            cpu_one = (cpu_seconds(pids) - cpu_before) / args.runs

            clients = threads * len(pids)
            cpu_before = cpu_seconds(pids)
            began = time.perf_counter()

            def busy(visitor: Visitor) -> None:
                for _ in range(args.rounds):
                    visitor.delete(visitor.upload(small))

            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(busy, visitors[:clients]))
            rate = clients * args.rounds / (time.perf_counter() - began)
            cpu_busy = (cpu_seconds(pids) - cpu_before) / (clients * args.rounds)
        finally:
            stop(process)

    held = "" if args.mongo_uri else ", in the worker's memory"
    size = f"{args.big} ({len(big) / MB:.1f} MB JPEG)"

    def row(label: str, value: str, note: str = "") -> None:
        print(f"{label:<48} {value:>9}  {note}".rstrip())

    print(f"server: {' '.join(stage.cmd)}  (the Dockerfile's CMD and ENV)")
    print(f"workers: {len(pids)}  threads each: {threads}  ONNX_THREADS: {env['ONNX_THREADS']}"
          f"  store: {'MongoDB' if args.mongo_uri else 'in-process demo store'}")
    print(f"large photo: {size}; small: 1024x1024 ({len(small) / MB:.2f} MB JPEG)")
    row("start-up to the first /health 200", f"{startup:.1f} s")
    for pid in pids:
        row(f"worker {pid} idle RSS", f"{idle[pid] / MB:.0f} MiB")
    row("one large upload", f"{big_seconds:.1f} s")
    row("a worker's peak RSS after one large upload", f"{peak_one / MB:.0f} MiB",
        f"(stored: {stored_one / MB:.0f} MiB{held})")
    row(f"... after {args.repeat} more each, one at a time", f"{peak_repeat / MB:.0f} MiB")
    row(f"... with {threads} large uploads sent at once to each",
        f"{max(peak_many.values()) / MB:.0f} MiB", f"(stored: {stored_many / MB:.0f} MiB{held};"
        f" {refused} answered busy and sent again)")
    row(f"/health during {len(pids)} large uploads", f"{probe_some * 1000:.0f} ms")
    row(f"/health during {len(visitors)} (every thread busy)", f"{probe_all * 1000:.0f} ms")
    row(f"one ~1 MP upload, median of {args.runs}", f"{one_mp * 1000:.0f} ms")
    row("  worker CPU per ~1 MP upload", f"{cpu_one * 1000:.0f} ms")
    row(f"~1 MP uploads/s, {clients} clients busy", f"{rate:.2f} /s",
        f"({rate * one_mp:.2f}x one client's rate)")
    row("  worker CPU per ~1 MP upload", f"{cpu_busy * 1000:.0f} ms",
        f"(one core: {1 / cpu_busy:.2f} uploads/s)")


if __name__ == "__main__":
    main()
