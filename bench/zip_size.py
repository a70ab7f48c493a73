"""How much smaller remove.bg's zip (color.jpg + alpha.png) is than our RGBA PNG, for 12 MP
photos cut out by the local model: bytes, time to encode, and what joining the zip's two
files loses against the PNG (the JPEG's error on visible pixels, weighted by their alpha).

    .venv/bin/python -m bench.zip_size            # prints the table
    .venv/bin/python -m bench.zip_size --write    # and puts it in docs/api.md

Each photo is masked once; the same mask is rendered as each format by the one compositor
(app/images/compose.py), as POST /api/v1/remove and /v1.0/removebg do."""

from __future__ import annotations

import argparse
import io
import time
import zipfile

import numpy as np
from PIL import Image

from app.core.forms import OutputOptions
from app.core.removal import RemovalOptions
from app.engines.local import LocalEngine
from app.images.compose import render
from app.images.decoding import Photo, probe
from bench.common import DOCS, photo, write_block
from tests.support import model_path

SIZE = (4000, 3000)  # 12 MP
PHOTOS = ("chelsea", "astronaut", "coffee")
FORMATS = ("png", "webp", "zip")


def joined(data: bytes) -> np.ndarray:
    """The zip's colours and alpha as one RGBA array, as a client joins them."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    colours = Image.open(io.BytesIO(archive.read("color.jpg"))).convert("RGB")
    alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
    return np.dstack([np.asarray(colours), np.asarray(alpha)])


def colour_error(result: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and 99th percentile of the colour error on visible pixels, weighted by alpha:
    what shows once the cutout is laid over something (0-255 per channel)."""
    weight = reference[..., 3:4].astype(np.float64) / 255
    error = np.abs(result[..., :3].astype(np.float64) - reference[..., :3]) * weight
    visible = reference[..., 3] > 0
    return float(error[visible].mean()), float(np.percentile(error[visible], 99))


def measure(engine: LocalEngine, name: str) -> list[dict]:
    data = photo(name, SIZE, noise=2.0)
    mask = engine.mask(Photo(data, probe(data, 100_000_000)))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    rows, png = [], None
    for file_format in FORMATS:
        look = (RemovalOptions if file_format == "zip" else OutputOptions)(format=file_format)
        started = time.perf_counter()
        made = render(image, mask, look)
        seconds = time.perf_counter() - started
        if file_format == "png":
            png = np.asarray(Image.open(io.BytesIO(made.data)))
        row = {"photo": name, "format": file_format, "bytes": len(made.data),
               "seconds": seconds}
        if file_format == "zip":
            row["error"] = colour_error(joined(made.data), png)
        elif file_format == "webp":
            row["error"] = colour_error(np.asarray(Image.open(io.BytesIO(made.data))), png)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| photo (12 MP) | format | size | vs PNG | encoded in | colour error vs PNG "
             "(mean / p99) |", "|---|---|---:|---:|---:|---|"]
    png = {row["photo"]: row["bytes"] for row in rows if row["format"] == "png"}
    for row in rows:
        error = row.get("error")
        lines.append(
            f"| {row['photo']} | {row['format']} | {row['bytes'] / 1e6:.2f} MB | "
            f"{row['bytes'] / png[row['photo']]:.0%} | {row['seconds']:.2f} s | "
            + (f"{error[0]:.2f} / {error[1]:.1f} |" if error else "exact (the reference) |"
               if row["format"] == "png" else "|"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="put the table in docs/api.md")
    args = parser.parse_args()
    engine = LocalEngine(model_path())
    rows = [row for name in PHOTOS for row in measure(engine, name)]
    text = table(rows)
    print(text)
    if args.write:
        write_block(DOCS / "api.md", "zip-size", text)


if __name__ == "__main__":
    main()
