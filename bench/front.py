"""`/health` while slow clients hold connections: gunicorn facing them itself (the image's
CMD, as the Service sent traffic before) against the same gunicorn behind the front
(`make serve`: nginx with k8s/front/nginx.conf), in one session on the same machine. Then,
through the front: what compressing static files saves and costs, and nginx's memory.

    python -m bench.front [--seconds 20] [--clients 10] [--docs] [--gzip-only]

--docs writes the tables into docs/front.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.common import ROOT, start_server, write_block
from bench.slow_clients import SlowBody, SlowHeaders, poll_health
from tests.servers import stop

DOCS = ROOT / "docs" / "front.md"
SLOW_SOURCE = "127.0.0.2"  # the slow clients' own loopback address; the poller uses 127.0.0.1


def attack(base: str, kind: type, clients: int, seconds: float) -> dict:
    port = int(base.rsplit(":", 1)[1])
    slow = [kind("127.0.0.1", port, SLOW_SOURCE, interval=4, pieces=None, reconnect=True)
            for _ in range(clients)]
    for client in slow:
        client.start()
    time.sleep(1)  # every slow connection is open and has sent its first bytes
    poll = poll_health(base, seconds)
    for client in slow:
        client.stop()
    for client in slow:
        client.join(10)
    times = [taken for taken, _ in poll.answers]
    cut = [ending for client in slow for ending in client.endings if ending.ended]
    return {"asked": len(poll.answers),
            "ok": sum(1 for taken, status in poll.answers if status == 200 and taken < 1),
            "timed_out": sum(1 for _, status in poll.answers if status is None),
            "median": statistics.median(times), "worst": max(times),
            "cut": len(cut)}


def static_files(base: str) -> list[str]:
    """The stylesheets and scripts a first visit with JavaScript loads (under /static/), in
    the page's order: its own (not the one inside <noscript>), then each module's imports."""
    page = re.sub(r"<noscript>.*?</noscript>", "", requests.get(f"{base}/", timeout=10).text,
                  flags=re.S)
    found = re.findall(r'<(?:link rel="stylesheet" href|script[^>]* src)="/static/([^"?]+)',
                       page)
    for name in found:  # grows as modules are read: each one's imports join the end
        if name.endswith(".js"):
            script = requests.get(f"{base}/static/{name}", timeout=10).text
            folder = name.rpartition("/")[0]
            for imported in re.findall(r'^import\b[^;]*?"\./([^"]+)"', script, re.M | re.S):
                if f"{folder}/{imported}" not in found:
                    found.append(f"{folder}/{imported}")
    return found


def compression(base: str, rounds: int = 30) -> list[tuple[str, int, int, float, float]]:
    """(file, bytes sent plain, bytes sent gzipped, median seconds plain, gzipped)."""
    rows = []
    session = requests.Session()
    for name in static_files(base):
        url = f"{base}/static/{name}"
        sizes, times = {}, {"identity": [], "gzip": []}
        for _ in range(rounds):
            for encoding in ("identity", "gzip"):  # interleaved: the machine is shared
                started = time.perf_counter()
                response = session.get(url, headers={"Accept-Encoding": encoding}, stream=True)
                body = response.raw.read()
                times[encoding].append(time.perf_counter() - started)
                # A file under gzip_min_length (1 KB: rules.js) is sent as it is.
                assert response.headers.get("Content-Encoding", "identity") in (
                    encoding, "identity")
                sizes[encoding] = len(body)
        rows.append((name, sizes["identity"], sizes["gzip"],
                     statistics.median(times["identity"]), statistics.median(times["gzip"])))
    return rows


def nginx_peak_memory(serve_pid: int) -> int:
    """VmHWM of nginx's master and worker under scripts/serve.py, in bytes."""
    total = 0
    for child in Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split():
        if b"nginx" not in Path(f"/proc/{child}/cmdline").read_bytes():
            continue
        grandchildren = Path(f"/proc/{child}/task/{child}/children").read_text().split()
        for pid in [child, *grandchildren]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--docs", action="store_true")
    parser.add_argument("--gzip-only", action="store_true",
                        help="only the static files' compression, through the front")
    args = parser.parse_args()

    rows, gzip_rows, memory = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # One worker × 8 threads, the demo store, the same settings: with the front or not.
        targets = (("gunicorn alone", lambda: start_server(1, 8, 1, "", folder)),
                   ("gunicorn behind the front",
                    lambda: start_server(1, 8, 1, "", folder, front=True)))
        for name, starter in targets[1:] if args.gzip_only else targets:
            process, base = starter()
            try:
                for label, kind in () if args.gzip_only else (("slow headers", SlowHeaders),
                                                              ("slow bodies", SlowBody)):
                    result = attack(base, kind, args.clients, args.seconds)
                    rows.append((name, label, result))
                    print(f"{name}, {args.clients} {label}: {result}", flush=True)
                if "front" in name:
                    memory = nginx_peak_memory(process.pid)
                    gzip_rows = compression(base)
            finally:
                stop(process)

    lines = [f"`python -m bench.front`: {args.clients} slow clients from one address (a "
             f"header line or 100 body bytes every 4 s, reconnecting when cut) while "
             f"`/health` is asked every 0.5 s for {args.seconds:.0f} s (5 s client timeout), "
             "one worker × 8 threads, embedded store, on this 2-core machine.", "",
             "| server | slow clients | `/health` asked | 200 in < 1 s | no answer in 5 s | "
             "median | worst | slow connections the server cut |",
             "|---|---|---|---|---|---|---|---|"]
    for name, label, r in rows:
        lines.append(f"| {name} | {args.clients} {label} | {r['asked']} | {r['ok']} | "
                     f"{r['timed_out']} | {r['median']:.3f} s | {r['worst']:.3f} s | "
                     f"{r['cut']} |")
    lines += ["", f"nginx's peak resident memory (master and worker) after these runs: "
              f"{memory / 1024**2:.1f} MB."]
    table = "\n".join(lines)
    print(table)

    zipped = ["Static files through the front, gzip (level 1, nginx's default) against none: "
              "bytes on the wire and the median time of 30 interleaved fetches on loopback "
              "(where bandwidth costs nothing, so this shows only the CPU).", "",
              "| file | plain | gzip | ratio | time plain | time gzip |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, plain, packed, t_plain, t_packed in gzip_rows:
        zipped.append(f"| {name} | {plain:,} B | {packed:,} B | {plain / packed:.1f}× | "
                      f"{t_plain * 1000:.1f} ms | {t_packed * 1000:.1f} ms |")
    total_plain = sum(r[1] for r in gzip_rows)
    total_packed = sum(r[2] for r in gzip_rows)
    zipped += ["", f"A first visit fetches all {len(gzip_rows)}: "
               f"{total_plain / 1024:.0f} KB plain, {total_packed / 1024:.0f} KB gzipped; at "
               f"1 Mbit/s (a poor mobile link) that is {total_plain * 8 / 1e6:.1f} s against "
               f"{total_packed * 8 / 1e6:.1f} s."]
    compressed = "\n".join(zipped)
    print(compressed)
    if args.docs:
        if not args.gzip_only:
            write_block(DOCS, "front", table)
        write_block(DOCS, "gzip", compressed)


if __name__ == "__main__":
    main()
