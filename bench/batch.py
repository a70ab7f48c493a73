"""flask remove-bg on a folder: through a served app against the model-bound ceiling, killed
half-way and resumed, and in this process against rembg, in one run.

    make bench-batch    (or: .venv/bin/python -m bench.batch [--photos N] [--connections C]
                              [--config W:T:O] [--local-photos K] [--write])

N photos (0.3, 1, 4 and 12 MP in turn, made from the photos the other benches use) go
through gunicorn started as bench/server.py starts it, with the batch command at C
connections: photos/s and megapixels/s, and photos/s as a ratio to bench/server.py's
ceiling (cores ÷ single-thread inference time, measured in this run, before and after).
Then the same folder again into a fresh one, the command SIGKILLed once half the outputs
exist and started again: photos lost (no whole output at the end) and made twice (an output
of the first run made again) must both be 0. Last, K photos of 12 MP in this process
(`flask remove-bg` without --server) against rembg's `remove()` in a loop over the same
folder with the same model file, for u2netp and u2net. `--write` puts the table in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DOCS, ROOT, photo, start_server, write_block
from bench.engine import SIZES  # 0.3, 1, 4 and 12 MP, as the engine's bench
from bench.server import single_thread_inference_seconds
from tests.servers import stop

PAGE = DOCS / "performance.md"

MIXED = tuple(SIZES.values())
NAMES = ("astronaut", "coffee", "chelsea")
FLASK = Path(sys.executable).parent / "flask"
SUMMARY = re.compile(r"(?:Done|Stopped) in ([0-9.]+) s: made ([0-9]+) \([0-9.]+ photos/s\), "
                     r"skipped ([0-9]+) already made, failed ([0-9]+)\.")


def make_folder(folder: Path, count: int, sizes: tuple = MIXED) -> float:
    """`count` photos under `folder` (in sub-folders of 50), sizes and subjects in turn;
    each distinct photo is made once and copied. Their megapixels in all."""
    made, pixels = {}, 0
    for i, (size, name) in zip(range(count), itertools.cycle(itertools.product(sizes, NAMES))):
        if (size, name) not in made:
            made[(size, name)] = photo(name, size, noise=3, seed=len(made))
        target = folder / f"set{i // 50:02}" / f"{name}-{i:04}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(made[(size, name)])
        pixels += size[0] * size[1]
    return pixels / 1e6


def env(**extra) -> dict:
    from tests.support import MODELS_DIR

    values = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "BG_ENGINE")}
    values.update(APP_SECRET_KEY="bench-batch-client-0123456789", PYTHONPATH=str(ROOT),
                  BG_ENGINE="local", BG_MODELS_DIR=str(MODELS_DIR), LOG_LEVEL="warning",
                  FLASK_SKIP_DOTENV="1", **extra)
    return values


def command(src: Path, out: Path, *options: str) -> list[str]:
    return [str(FLASK), "--app", "app", "remove-bg", str(src), "--out", str(out),
            "--no-progress", *options]


def run(args: list[str], one_core: bool = False, **settings) -> tuple[float, int, int, int]:
    """The command to its end: (seconds of work, made, skipped, failed) from its summary;
    `one_core`: pinned to one CPU, so no thread of it (the PNG writer's bands) takes two."""
    cpu = min(os.sched_getaffinity(0))
    done = subprocess.run(args, cwd=ROOT, env=env(**settings), capture_output=True,
                          text=True, timeout=3600,
                          preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if one_core
                          else None)
    found = SUMMARY.search(done.stdout)
    if not found:
        raise SystemExit(f"no summary:\n{done.stdout}\n{done.stderr}")
    seconds, made, skipped, failed = found.groups()
    if int(failed):
        print(done.stdout, file=sys.stderr)
    return float(seconds), int(made), int(skipped), int(failed)


def outputs(out: Path) -> dict[Path, tuple[int, int]]:
    """The whole outputs under `out`: path -> (inode, mtime), which change if remade."""
    from app.batch.files import is_done

    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.rglob("*.png"))
            if is_done(p)}


def kill_and_resume(src: Path, out: Path, count: int, options: list[str]) -> dict:
    """The command SIGKILLed once half the outputs exist, then started again."""
    first = subprocess.Popen(command(src, out, *options), cwd=ROOT, env=env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(out.rglob("*.png"))) < count // 2 and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = outputs(out)
    broken = len(list(out.rglob("*.png"))) - len(before)  # under an output's name, not whole
    _, made, skipped, failed = run(command(src, out, *options))
    after = outputs(out)
    twice = sum(after.get(path) != mark for path, mark in before.items())
    twice += max(0, made + len(before) - count)
    return {"before": len(before), "broken": broken, "lost": count - len(after),
            "twice": twice, "made": made, "skipped": skipped, "failed": failed}


def single_thread_photo_seconds(tmp: Path) -> float:
    """One core's seconds for an average photo of the mix, all of the work (decode, model,
    compose, encode): one photo of each size and subject (the mix's whole cycle) through
    `flask remove-bg` in its own process pinned to one CPU, one thread, one onnx thread."""
    src = tmp / "cycle"
    make_folder(src, len(MIXED) * len(NAMES))
    seconds, made, _, _ = run(command(src, tmp / "cycle-out", "--threads", "1"),
                              one_core=True, ONNX_THREADS="1")
    shutil.rmtree(tmp / "cycle-out")
    return seconds / made


def rembg_loop(src: str, out: str, model: str) -> None:
    """In a fresh process: rembg's remove() over every photo of `src`, as `rembg p` does;
    prints the seconds of the loop (the session is made before)."""
    from rembg import remove

    from tests.support import rembg_session

    session = rembg_session(model)
    started = time.perf_counter()
    for path in sorted(Path(src).rglob("*.jpg")):
        Path(out, path.stem + ".png").write_bytes(remove(path.read_bytes(), session=session))
    print(time.perf_counter() - started)


def against_rembg(tmp: Path, count: int, model: str) -> tuple[float, float]:
    src = tmp / f"local-{count}"
    if not src.exists():
        make_folder(src, count, sizes=(SIZES["12 MP"],))
    ours_out, theirs_out = tmp / f"ours-{model}", tmp / f"rembg-{model}"
    theirs_out.mkdir()
    ours = run(command(src, ours_out, "--model", model))
    assert ours[1] == count, ours
    done = subprocess.run([sys.executable, "-m", "bench.batch", "--rembg-loop", str(src),
                           str(theirs_out), model], cwd=ROOT, env=env(), capture_output=True,
                          text=True, check=True)
    assert len(list(theirs_out.glob("*.png"))) == count
    return ours[0], float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--config", default="2:3:1", help="workers:threads:onnx-threads "
                        "(2 workers, as the pod runs: k8s/configmap.yaml WEB_CONCURRENCY)")
    parser.add_argument("--mongo-uri", default=os.environ.get("MONGO_TEST_URI", ""))
    parser.add_argument("--local-photos", type=int, default=8,
                        help="12 MP photos for in-process against rembg (0: skip)")
    parser.add_argument("--write", action="store_true",
                        help="write the table to docs/performance.md")
    parser.add_argument("--rembg-loop", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rembg_loop:
        rembg_loop(*args.rembg_loop)
        return

    workers, threads, onnx = (int(x) for x in args.config.split(":"))
    cores = len(os.sched_getaffinity(0))
    inference = [single_thread_inference_seconds()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        whole = [single_thread_photo_seconds(tmp)]
        megapixels = make_folder(tmp / "src", args.photos)
        process, base = start_server(workers, threads, onnx, args.mongo_uri, tmp)
        over = ["--server", base, "--connections", str(args.connections)]
        try:
            seconds, made, _, failed = run(command(tmp / "src", tmp / "out", *over))
            resumed = kill_and_resume(tmp / "src", tmp / "resumed", args.photos, over)
        finally:
            stop(process)
        inference.append(single_thread_inference_seconds())
        whole.append(single_thread_photo_seconds(tmp))
        rows = [(model, *against_rembg(tmp, args.local_photos, model))
                for model in ("u2netp", "u2net") if args.local_photos]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ceiling = cores / statistics.mean(inference)
    work_ceiling = cores / statistics.mean(whole)
    rate = made / seconds
    print(f"served: {made} made, {failed} failed in {seconds:.1f} s; resumed: {resumed}",
          file=sys.stderr)
    lines = [
        f"`make bench-batch`: {args.photos} JPEGs (0.3, 1, 4 and 12 MP in turn, "
        f"{megapixels / args.photos:.1f} MP on average) through gunicorn "
        f"({args.config.replace(':', ' × ')} workers × threads × onnx threads) with "
        f"`flask remove-bg --server` at "
        f"{args.connections} connections; ceiling = {cores} cores ÷ "
        f"{statistics.mean(inference) * 1000:.0f} ms single-thread inference = "
        f"{ceiling:.2f} photos/s (bench-server's, for 1 MP uploads). The work-bound "
        f"ceiling counts all of a photo's work, not the model's alone: {cores} cores ÷ "
        f"{statistics.mean(whole):.2f} s for an average photo of this mix on one core "
        f"(in-process, pinned to one CPU) = {work_ceiling:.2f} photos/s.",
        "",
        "| through the server | photos/s | MP/s | of model-bound ceiling | of work-bound "
        "ceiling | failed | killed at | lost | made twice |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {args.connections} connections | {rate:.2f} | {megapixels / seconds:.1f} | "
        f"{rate / ceiling:.2f} | {rate / work_ceiling:.2f} | {failed} | "
        f"{resumed['before']}/{args.photos} | {resumed['lost']} | {resumed['twice']} |",
    ]
    if rows:
        lines += ["", f"In this process (`flask remove-bg`, 2 threads) against rembg's "
                      f"`remove()` in a loop, {args.local_photos} photos of 12 MP:", "",
                  "| model | ours, s/photo | rembg, s/photo | rembg ÷ ours |",
                  "|---|---:|---:|---:|"]
        for model, ours, theirs in rows:
            lines.append(f"| {model} | {ours / args.local_photos:.2f} | "
                         f"{theirs / args.local_photos:.2f} | {theirs / ours:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_block(PAGE, "batch", text)
    if resumed["lost"] or resumed["twice"] or resumed["broken"] or failed:
        raise SystemExit("photos were lost, broken, failed or made twice")


if __name__ == "__main__":
    main()
