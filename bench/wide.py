"""Uploads with the PNG writer's deflate on threads of its own (as the app runs it) against
the same with it on the pool's threads (as it ran before 2026-12-07), in one process: a
very wide photo, the same photo turned, and usual photos.

    .venv/bin/python -m bench.wide [--runs N] [--write]

ISA-L leaves the vector registers' upper halves dirty, and Pillow's floating-point code
run after it on the same thread (the LANCZOS weights of the model's input, made again for
each band of rows) paid for it: the weights of a 65,500-pixel row are 6 times those of an
8,640-pixel one. Absolute times on a shared machine mean little; compare the ratios.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from concurrent.futures import Future, ThreadPoolExecutor

from isal import isal_zlib
from PIL import Image

from app.images import pngwriter
from bench.common import DOCS, photo, uploads_app, write_block

SHAPES = {"wide (65,500 × 762)": (65500, 762), "turned (762 × 65,500)": (762, 65500),
          "usual, as many pixels (8,640 × 5,776)": (8640, 5776),
          "usual, 12 MP (4,000 × 3,000)": (4000, 3000)}
NOW, BEFORE = "own threads (now)", "the pool's threads (before)"


class _OnTheCallersThread:
    """An executor that runs the task at once on the caller's thread: the writer before."""

    @staticmethod
    def submit(fn, *args) -> Future:
        done: Future = Future()
        done.set_result(fn(*args))
        return done


def registers(runs: int) -> list[str]:
    """Pillow's LANCZOS pass across a 65,500 × 32 band (its weights are most of it), on one
    thread: before ISA-L has run there, and after one compress."""
    band = Image.new("RGB", (65500, 32), (10, 200, 30))
    data = bytes(range(256)) * 16384

    def timed() -> float:
        start = time.perf_counter()
        band.resize((320, 32), Image.Resampling.LANCZOS)
        return time.perf_counter() - start

    def on_a_fresh_thread() -> tuple[float, float]:
        clean = statistics.median(timed() for _ in range(runs))
        compressor = isal_zlib.compressobj(2, isal_zlib.DEFLATED, -15)
        compressor.compress(data) + compressor.flush()
        return clean, statistics.median(timed() for _ in range(runs))

    with ThreadPoolExecutor(1) as thread:
        clean, after = thread.submit(on_a_fresh_thread).result()
    return ["", "The same thread's LANCZOS pass across a 65,500 × 32 band, medians of "
            f"{runs}: {clean * 1000:.1f} ms before ISA-L ran on it, {after * 1000:.1f} ms "
            f"after one compress ({after / clean:.1f}×)."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="put the table in docs/")
    args = parser.parse_args()
    client = uploads_app().test_client()
    photos = {label: photo("astronaut", size, quality=85) for label, size in SHAPES.items()}
    writers = {NOW: pngwriter._DEFLATE, BEFORE: _OnTheCallersThread()}

    def upload(data: bytes) -> float:
        start = time.perf_counter()
        response = client.post("/", data={"name": "bench", "image": (io.BytesIO(data), "a.jpg")},
                               headers={"Accept": "application/json"})
        assert response.status_code == 201, response.get_json()
        return time.perf_counter() - start

    small = photo("astronaut", (640, 480))
    upload(small)  # the model loaded, the first request's imports
    times = {(label, writer): [] for label in photos for writer in writers}
    for _ in range(args.runs):  # in turns, so that both writers see the same machine
        for writer, executor in writers.items():
            pngwriter._DEFLATE = executor
            # A worker's threads as that writer leaves them between uploads (the dirty
            # registers stay with the pool's threads until code that cleans them runs).
            upload(small)
            for label, data in photos.items():
                times[(label, writer)].append(upload(data))
    pngwriter._DEFLATE = writers[NOW]

    lines = [f"`python -m bench.wide --runs {args.runs}`: one upload through the app (u2netp), "
             "medians, the two writers in turns.", "",
             "| photo | deflate on its own threads (now) | on the pool's (before) | before ÷ now |",
             "|---|---:|---:|---:|"]
    for label in photos:
        now, before = (statistics.median(times[(label, writer)]) for writer in (NOW, BEFORE))
        lines.append(f"| {label} | {now:.2f} s | {before:.2f} s | {before / now:.2f} |")
    lines += registers(max(args.runs, 5))
    print("\n".join(lines))
    if args.write:
        write_block(DOCS / "performance.md", "wide", "\n".join(lines))


if __name__ == "__main__":
    main()
