"""A whole upload by its result's format, against the same upload as a transparent PNG: what
each format costs, and the price it would need in the admission's terms.

    .venv/bin/python -m bench.formats [--runs 5] [--write]

In one process through the app (the page's JSON upload, u2netp, record stored, renditions
made), for scikit-image's astronaut at 1, 4.3, 12 and 16 MP: each look and format taking
turns, medians of wall time and of the process's CPU time. The admission prices a job at
2 + 7 + e × its megapixels (engines/admission.py; 7 for u2netp's inference since
2026-12-07, none before), e = 1 for a PNG; the last column is the e
that prices this job at its measured time, against the PNG's as the peer
(`outputs.ENCODING_COST` is set from it). `--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import time

from app.engines.admission import Work
from app.images.outputs import ENCODING_COST
from app.model_files import DEFAULT_MODEL, MODELS, RUNTIMES
from bench.common import DOCS, photo, uploads_app, write_block

# What any job is priced at beside its pixels: the fixed part and the model's inference.
FIXED = Work(0, inference=MODELS[DEFAULT_MODEL].inference_megapixels(RUNTIMES[0])).megapixels
SIZES = [(1152, 864), (2400, 1800), (4000, 3000), (4616, 3464)]
LOOKS = [("transparent", "png"), ("transparent", "webp"), ("color", "png"), ("color", "webp"),
         ("color", "jpeg"), ("mask", "png"), ("mask", "webp")]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    client = uploads_app(demo_store_mb=10**5).test_client()
    lines = [f"`python -m bench.formats --runs {args.runs}`: one upload through the app "
             f"(u2netp), medians of {args.runs} taking turns; e prices the job at its time "
             f"({FIXED:g} + e × MP, the PNG's e = 1; `ENCODING_COST`: {ENCODING_COST}).",
             "",
             "| photo | output | format | wall | ÷ PNG | CPU | ÷ PNG | e |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for size in SIZES:
        data = photo("astronaut", size)
        megapixels = size[0] * size[1] / 1e6
        times = {look: ([], []) for look in LOOKS}
        for run in range(args.runs + 1):  # the first round warms each path up
            for output, file_format in LOOKS:
                wall, cpu = time.perf_counter(), _cpu()
                response = client.post("/", data={
                    "name": "bench", "image": (io.BytesIO(data), "a.jpg"), "output": output,
                    "format": file_format, "background": "#336699"},
                    headers={"Accept": "application/json"})
                assert response.status_code == 201, response.get_json()
                if run:
                    times[output, file_format][0].append(time.perf_counter() - wall)
                    times[output, file_format][1].append(_cpu() - cpu)
                client.delete(f"/remove/{response.get_json()['id']}",
                              headers={"Accept": "application/json"})
        wall_png, cpu_png = (statistics.median(t) for t in times["transparent", "png"])
        for (output, file_format), (walls, cpus) in times.items():
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            e = (wall / wall_png * (FIXED + megapixels) - FIXED) / megapixels
            lines.append(f"| {megapixels:.1f} MP | {output} | {file_format} "
                         f"| {wall * 1000:.0f} ms | {wall / wall_png:.2f} | {cpu * 1000:.0f} ms "
                         f"| {cpu / cpu_png:.2f} | {e:.1f} |")
        print("\n".join(lines[-len(LOOKS):]), flush=True)
    if args.write:
        write_block(DOCS / "performance.md", "formats", "\n".join(lines))
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
