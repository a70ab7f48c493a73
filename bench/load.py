"""A bounded load test: many visitors mixing page views, uploads, renames, image fetches
and deletes against the app under gunicorn, on loopback. It stops by itself.

    make bench-load     (or: .venv/bin/python -m bench.load [--clients 200] [--seconds 60]
                               [--mongo-uri URI] [--write])

Each simulated visitor keeps its own book of the records the server acknowledged, so at
the end lost or duplicated records show up; every page view checks the visitor is within
the limit. The server's worker memory is sampled throughout. The checks are the point; the
request rates and latencies are what this machine managed while also running the clients.
`--write` puts the table in docs/reliability.md: a run against a database in the `load`
block, one on the demo store in the `load-embedded` block.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.common import DOCS, photo, start_server, write_block
from tests.front import session_from
from tests.processes import gunicorn_master, workers
from tests.processes import memory as memory_of
from tests.servers import stop

PAGE = DOCS / "reliability.md"
ROW = re.compile(r'<tr data-record-id="([0-9a-f]{24})"')
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')
# What visitors do, by weight: mostly looking, sometimes changing things.
ACTIONS = {"page": 60, "image": 15, "rename": 10, "upload": 8, "delete": 7}


@dataclass
class Tally:
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    statuses: dict = field(default_factory=lambda: defaultdict(int))
    problems: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action, status, seconds):
        with self.lock:
            self.latencies[action].append(seconds)
            self.statuses[(action, status)] += 1

    def problem(self, text):
        with self.lock:
            self.problems.append(text)


class Visitor(threading.Thread):
    def __init__(self, base, n, stop_at, tally, limit, photos):
        super().__init__(daemon=True)
        self.base, self.stop_at, self.tally, self.limit = base, stop_at, tally, limit
        self.rng = random.Random(n)
        self.photos = photos
        # Each visitor from its own loopback address, as people on the internet are: the
        # front and the app limit connections and uploads per address.
        self.session = session_from(f"127.1.{n // 250}.{n % 250 + 1}")
        self.mine: set[str] = set()  # records the server acknowledged as this visitor's
        self.token = ""

    def call(self, action, method, path, **kwargs):
        began = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        except requests.RequestException as exc:
            self.tally.add(action, "error", time.perf_counter() - began)
            self.tally.problem(f"{action}: {exc!r}")
            return None
        status = response.status_code
        if status == 503 and response.headers.get("Retry-After") and _code(response) == "busy":
            status = "503 busy"  # refused at once with a time to retry: by design, not a fault
        self.tally.add(action, status, time.perf_counter() - began)
        if isinstance(status, int) and status >= 500:
            self.tally.problem(f"{action}: HTTP {status}")
        if status in (429, "503 busy"):
            # A polite client comes back when told to (at most 5 s here: the test is short).
            time.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
        return response

    def page(self):
        response = self.call("page", "GET", "/")
        if response is None or response.status_code != 200:
            return
        self.token = TOKEN.search(response.text).group(1)
        rows = ROW.findall(response.text)
        if len(rows) > self.limit:
            self.tally.problem(f"over the limit: {len(rows)} records")
        if len(rows) != len(set(rows)):
            self.tally.problem("a record listed twice")
        if set(rows) != self.mine:
            self.tally.problem(f"page shows {sorted(set(rows))}, server acknowledged "
                               f"{sorted(self.mine)}")

    def run(self):
        self.page()
        actions, weights = zip(*ACTIONS.items(), strict=True)
        while time.monotonic() < self.stop_at:
            time.sleep(self.rng.uniform(0.5, 2.5))  # a person reads, then acts
            action = self.rng.choices(actions, weights)[0]
            headers = {"X-CSRFToken": self.token, "Accept": "application/json"}
            if action == "page" or not self.token:
                self.page()
            elif action == "upload":
                response = self.call("upload", "POST", "/", headers={"Accept": "application/json"},
                                     data={"name": "load", "csrf_token": self.token},
                                     files={"image": ("p.jpg", self.rng.choice(self.photos),
                                                      "image/jpeg")})
                if response is not None and response.status_code == 201:
                    self.mine.add(response.json()["id"])
            elif not self.mine:
                self.page()
            elif action == "image":
                record = self.rng.choice(sorted(self.mine))
                self.call("image", "GET", f"/images/{record}/processed")
            elif action == "rename":
                record = self.rng.choice(sorted(self.mine))
                self.call("rename", "PUT", f"/update/{record}", headers=headers,
                          json={"record_name": f"renamed {self.rng.randint(0, 999)}"})
            elif action == "delete":
                record = self.rng.choice(sorted(self.mine))
                response = self.call("delete", "DELETE", f"/remove/{record}", headers=headers)
                if response is not None and response.status_code == 200:
                    self.mine.discard(record)
        self.page()  # the final check of this visitor's records


def _code(response) -> str:
    try:
        return response.json().get("error", "")
    except ValueError:
        return ""


def _resident_mb(master: int, seen: set) -> float:
    total = 0
    for pid in workers(master):
        seen.add(pid)
        with contextlib.suppress(FileNotFoundError):  # a worker that was just replaced
            total += memory_of(pid).get("VmRSS", 0)
    return total / 2**20


def _action(method: str, path: str) -> str | None:
    if path == "/":
        return {"GET": "page", "POST": "upload"}.get(method)
    for prefix, action in (("/images/", "image"), ("/update/", "rename"), ("/remove/", "delete")):
        if path.startswith(prefix):
            return action
    return None


def _server_latencies(folder: Path) -> dict:
    """Time each request took inside the app, from its JSON request log lines: what the
    server did, without the time the visitors' own threads waited for the CPU."""
    found = defaultdict(list)
    for log in folder.glob("gunicorn-*.log"):
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("logger") != "app.http.observability":
                continue  # the front's own lines
            action = _action(entry.get("method", ""), entry.get("path", ""))
            if action and "duration_ms" in entry:
                found[action].append(entry["duration_ms"] / 1000)
    return found


def run(clients: int, seconds: float, mongo_uri: str = "", workers: int = 0,
        threads: int = 8, limit: int = 2, front: bool = True) -> dict:
    """Drive the server; return the tally, memory samples and duration."""
    photos = [photo("chelsea", (320, 213), noise=2, seed=seed, quality=85) for seed in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        # The container's defaults: 2 workers × 8 threads with a database, else one worker.
        workers = workers or (2 if mongo_uri else 1)
        process, base = start_server(workers, threads, 1, mongo_uri, Path(tmp),
                                     extra_env={"USER_LIMIT": str(limit), "LOG_LEVEL": "info",
                                                "LOG_FORMAT": "json"}, front=front)
        master = gunicorn_master(process.pid)
        tally = Tally()
        memory: list[tuple[float, float]] = []
        seen: set[int] = set()  # every worker process seen: more than `workers` = restarts
        began = time.monotonic()
        stop_at = began + seconds
        visitors = [Visitor(base, n, stop_at, tally, limit, photos) for n in range(clients)]
        try:
            for visitor in visitors:
                visitor.start()
            while any(v.is_alive() for v in visitors):
                memory.append((time.monotonic() - began, _resident_mb(master, seen)))
                time.sleep(1)
            for visitor in visitors:
                visitor.join()
        finally:
            stop(process)
        elapsed = time.monotonic() - began
        server_side = _server_latencies(Path(tmp))
    return {"tally": tally, "memory": memory, "seconds": elapsed, "clients": clients,
            "server": server_side,
            "workers": workers, "threads": threads, "front": front,
            "database": "MongoDB-compatible server" if mongo_uri else "embedded store",
            "restarts": len(seen) - workers}


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(result: dict) -> str:
    tally, elapsed = result["tally"], result["seconds"]
    lines = [
        f"`make bench-load`: {result['clients']} visitors for {elapsed:.0f} s against "
        f"{'the front (nginx) and ' if result['front'] else ''}gunicorn "
        f"({result['workers']} workers × {result['threads']} threads × 1 onnx thread, "
        f"{result['database']}) on loopback; the visitors run on the same 2 cores.",
        "",
        "| request | count | per second | p50 | p95 | p50 in the app | p95 in the app "
        "| statuses |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    total = 0
    for action in ACTIONS:
        times = sorted(tally.latencies.get(action, []))
        if not times:
            continue
        total += len(times)
        p50, p95 = _percentile(times, 0.5), _percentile(times, 0.95)
        statuses = ", ".join(f"{status}: {count}" for (a, status), count in
                             sorted(tally.statuses.items(), key=str) if a == action)
        inside = sorted(result["server"].get(action, [])) or [0.0]
        lines.append(f"| {action} | {len(times)} | {len(times) / elapsed:.1f} | "
                     f"{p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
                     f"{_percentile(inside, 0.5) * 1000:.0f} ms | "
                     f"{_percentile(inside, 0.95) * 1000:.0f} ms | {statuses} |")
    memory = [mb for _, mb in result["memory"]]
    half = len(memory) // 2 or 1
    busy = sum(count for (_, status), count in tally.statuses.items() if status == "503 busy")
    lines += ["", f"All requests: {total} ({total / elapsed:.1f}/s). Server errors (5xx other "
                  f"than a busy refusal, or no answer): "
                  f"{sum(1 for p in tally.problems if 'HTTP 5' in p or 'Error' in p)}. Uploads "
                  f"refused at once as busy (503 with Retry-After, retried after it): {busy}."
                  f" Problems found by the visitors' checks: {len(tally.problems)}.",
              f"Worker memory (RSS): max {max(memory[:half], default=0):.0f} MB in the first "
              f"half, {max(memory[half:], default=0):.0f} MB in the second. Workers restarted: "
              f"{result['restarts']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mongo-uri", default=os.environ.get("MONGO_TEST_URI", ""))
    parser.add_argument("--workers", type=int, default=0, help="default: 2 with a database")
    parser.add_argument("--no-front", dest="front", action="store_false",
                        help="gunicorn alone, without nginx in front")
    parser.add_argument("--write", "--readme", action="store_true",
                        help="write the table to docs/reliability.md")
    args = parser.parse_args()
    result = run(args.clients, args.seconds, args.mongo_uri, args.workers, front=args.front)
    text = summary(result)
    print(text)
    for problem in result["tally"].problems[:20]:
        print("problem:", problem)
    if args.write:
        write_block(PAGE, "load" if args.mongo_uri else "load-embedded", text)
    raise SystemExit(1 if result["tally"].problems else 0)


if __name__ == "__main__":
    main()
