"""What a colour profile costs a photo's decode, in one process, the three ways taking turns.

    .venv/bin/python -m bench.colour [--runs 9] [--write]

bench/engine.py's photo at 1 and 12 MP as a JPEG without a profile (most uploads), with
sRGB's own (most cameras' and phones': recognised once, then left as it is) and with
Display P3's (an iPhone's: every pixel converted to sRGB by littlecms, app/images/colour.py),
each decoded as an upload is (`decoding.decode`); Display P3's also with its conversion
kept on one thread where, from SPLIT_PIXELS (4 MP), it takes two. Medians; CPU time of the
whole process, so the second thread counts. `--write` puts the table in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from PIL import Image, ImageCms

from app.images import colour
from app.images.decoding import decode
from app.images.resample import SPLIT_PIXELS
from bench.common import DOCS, write_block
from bench.engine import photo
from tests import icc

SIZES = {"1 MP": (1152, 864), "12 MP": (4000, 3000)}
P3 = icc.profile(icc.DISPLAY_P3, 2.2, "Display P3 (bench)")
# name: (profile, on one thread whatever the size)
WAYS = {
    "none": (None, False),
    "sRGB": (ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), False),
    "Display P3": (P3, False),
    "Display P3, one thread": (P3, True),
}


def tagged(data: bytes, profile: bytes | None) -> bytes:
    """The same JPEG with `profile` added: the pixels are copied, not coded again."""
    if profile is None:
        return data
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, "JPEG", quality="keep", icc_profile=profile)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = ["| photo | profile | decode | ÷ without | CPU | ÷ without |",
            "|---|---|---:|---:|---:|---:|"]
    for label, size in SIZES.items():
        base = photo(size)
        files = {name: tagged(base, profile) for name, (profile, _) in WAYS.items()}
        for data in files.values():
            decode(data)  # the first of each: sRGB's profile is recognised here, once
        wall = {name: [] for name in files}
        cpu = {name: [] for name in files}
        for _ in range(args.runs):
            for name, data in files.items():
                colour.SPLIT_PIXELS = 10**18 if WAYS[name][1] else SPLIT_PIXELS
                started, used = time.perf_counter(), time.process_time()
                decode(data)
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - used)
        colour.SPLIT_PIXELS = SPLIT_PIXELS
        plain_wall, plain_cpu = (statistics.median(wall["none"]),
                                 statistics.median(cpu["none"]))
        for name in files:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            rows.append(f"| {label} | {name} | {w * 1000:.0f} ms | {w / plain_wall:.2f} | "
                        f"{c * 1000:.0f} ms | {c / plain_cpu:.2f} |")
    text = (f"`python -m bench.colour --runs {args.runs}`: bench/engine.py's photo as a JPEG, "
            "decoded as an upload is; medians of interleaved runs.\n\n" + "\n".join(rows))
    print(text)
    if args.write:
        write_block(DOCS / "performance.md", "colour", text)


if __name__ == "__main__":
    main()
