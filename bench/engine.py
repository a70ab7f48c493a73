"""The local engine against raw inference and against rembg, in one process.

    make bench-engine          (or: .venv/bin/python -m bench.engine [--runs N] [--write])

For JPEG photos of about 0.3, 1, 4 and 12 MP it times, interleaved and as medians:
raw model inference alone (a prepared 320×320 tensor); our engine end to end (upload
bytes in, full-size transparent PNG out); a whole upload through the app (the form posted
through Flask's test client: checks, engine, PNG, gallery renditions, record stored in the
demo store); rembg's `remove()` end to end on the same bytes
with the same output (full-size PNG), using the same model file. The machine is shared, so
the ratios are the figures to read. `--memory` also reports the peak RSS of a fresh
process that builds the app and serves one 12 MP upload, read from /proc (VmHWM).
`--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app.model_files import RUNTIMES
from bench.common import DOCS, ROOT, SECRET_KEY, write_block
from bench.common import photo as _photo


def photo(size: tuple[int, int]) -> bytes:
    return _photo("coffee", size, noise=3)


SIZES = {"0.3 MP": (640, 480), "1 MP": (1152, 864), "4 MP": (2304, 1728), "12 MP": (4000, 3000)}
PAGE = DOCS / "performance.md"


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def measure(runs: int, threads: int, model: str = "u2netp") -> list[dict]:
    from rembg import remove

    from app.core.forms import OutputOptions
    from app.core.results import cut_out
    from app.engines import EngineRunner
    from app.engines.local import LocalEngine
    from app.images.decoding import Photo, probe
    from tests.support import free, rembg_session

    upload, app = uploader(model, threads)
    # The app's own engine: the process keeps only the tensors of the model used last
    # (app/engines/runtimes.py), so a second loaded copy would make each column pay for
    # the other's.
    engine: LocalEngine = app.extensions["services"].engines.primary.engine(model)
    runner, options = EngineRunner(engine), OutputOptions()

    def ours_cutout(data, info):
        """The upload walk minus storage: decode, mask, compose, encode."""
        return cut_out(runner, Photo(data, info), options, pay=free).result

    reference = rembg_session(model)
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    rows = []
    for label, size in SIZES.items():
        data = photo(size)
        info = probe(data, 10**9)
        ours_png = ours_cutout(data, info).data  # warm-up, and a check of the output
        theirs_png = remove(data, session=reference)
        for png in (ours_png, theirs_png):
            assert Image.open(io.BytesIO(png)).size == size
        upload(data)  # warm-up of the whole upload at this size
        raw, ours, whole, theirs = [], [], [], []
        for _ in range(runs):  # interleaved, so all four see the same machine load
            raw.append(timed(engine.model.infer, feed))
            ours.append(timed(ours_cutout, data, info))
            whole.append(timed(upload, data))
            theirs.append(timed(remove, data, session=reference))
        row = {"photo": f"{label} ({size[0]}×{size[1]})", "jpeg_mb": len(data) / 1e6,
               "raw": statistics.median(raw), "ours": statistics.median(ours),
               "upload": statistics.median(whole),
               "rembg": statistics.median(theirs), "ours_mb": len(ours_png) / 1e6,
               "rembg_mb": len(theirs_png) / 1e6}
        rows.append(row)
        print(f"{row['photo']}: raw {row['raw']:.3f}s ours {row['ours']:.3f}s "
              f"rembg {row['rembg']:.3f}s", file=sys.stderr)
    return rows


def uploader(model: str, threads: int = 0, **settings):
    """One upload through the app as a worker runs it (WSGI in, form checked, engine,
    compositor, renditions, record stored in the demo store), timed from the request; and
    the app."""
    from app import create_app
    from app.hosting import tune_allocator
    from app.settings import Settings
    from tests.support import MODELS_DIR, Visitor

    tune_allocator()  # malloc as a worker has it (gunicorn.conf.py's post_fork)

    app = create_app(Settings(secret_key=SECRET_KEY, bg_engine="local",
                              bg_models_dir=str(MODELS_DIR), user_limit=10**6,
                              onnx_threads=threads,
                              upload_rate_limit="100000 per minute",
                              upload_rate_limit_ip="100000 per minute", **settings))
    visitor = Visitor(app.test_client())  # the page's way: its CSRF token included

    def upload(data: bytes) -> None:
        response = visitor.upload(data, name="m", model=model,
                                  headers={"Accept": "application/json"})
        # 201 with the record: a redirect would as well be a refusal flashed on the page.
        assert response.status_code == 201, (response.status_code, response.get_data())

    return upload, app


def peak_memory_mb(tmp: Path, model: str = "u2netp") -> float:
    """Peak RSS of a fresh process that builds the app and serves one 12 MP upload. The
    photo is made here, in this process, so making it does not count."""
    path = tmp / "12mp.jpg"
    path.write_bytes(photo(SIZES["12 MP"]))
    out = subprocess.run([sys.executable, "-m", "bench.engine", "--serve-one", str(path),
                          "--model", model],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def serve_one(path: str, model: str) -> None:
    """In a fresh process: the app as a worker runs it, one upload, then VmHWM in MB."""
    uploader(model)[0](Path(path).read_bytes())
    status = Path("/proc/self/status").read_text()
    print(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)


def table(rows: list[dict], threads: int, runs: int, memory: float | None,
          model: str = "u2netp") -> str:
    lines = [
        f"`make bench-engine` (model {model}): JPEG in, full-size transparent PNG out; "
        f"medians of {runs} "
        f"interleaved runs; our runtime: {RUNTIMES[0]} (rembg's: onnxruntime); threads: "
        f"{threads or 'default (all cores)'}; "
        f"{os.cpu_count()} cores.",
        "",
        "| photo | raw inference | our engine | whole upload | rembg `remove()` | ours ÷ raw "
        "| upload ÷ engine | upload ÷ raw | rembg ÷ ours | PNG size ours / rembg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['photo']} | {r['raw'] * 1000:.0f} ms | {r['ours'] * 1000:.0f} ms | "
            f"{r['upload'] * 1000:.0f} ms | "
            f"{r['rembg'] * 1000:.0f} ms | {r['ours'] / r['raw']:.2f}× | "
            f"{r['upload'] / r['ours']:.2f}× | {r['upload'] / r['raw']:.2f}× | "
            f"{r['rembg'] / r['ours']:.1f}× | {r['ours_mb']:.1f} / {r['rembg_mb']:.1f} MB |")
    if memory is not None:
        lines += ["", f"Peak memory (VmHWM) of a fresh process that builds the app and serves "
                      f"one 12 MP upload: {memory:.0f} MB."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="the app's ONNX_THREADS: threads per photo (0: all cores)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory")
    parser.add_argument("--write", "--readme", action="store_true",
                        help="write the table to docs/performance.md")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--model", default="u2netp", choices=("u2netp", "u2net"))
    parser.add_argument("--serve-one", metavar="JPEG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_one:
        serve_one(args.serve_one, args.model)
        return

    rows = measure(args.runs, args.threads, args.model)
    with tempfile.TemporaryDirectory() as tmp:
        memory = peak_memory_mb(Path(tmp), args.model) if args.memory else None
    text = table(rows, args.threads, args.runs, memory, args.model)
    print(json.dumps({"rows": rows, "peak_mb": memory}, indent=2) if args.json else text)
    if args.write:
        write_block(PAGE, "engine" if args.model == "u2netp" else f"engine-{args.model}", text)


if __name__ == "__main__":
    main()
