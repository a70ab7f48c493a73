"""The size of a transparent cutout, and the time to encode it, against rembg's.

    .venv/bin/python -m bench.png_size [--runs 5] [--write]

For the photo of bench/engine.py (scikit-image's coffee with light sensor-like noise, JPEG)
at 12 MP and 1 MP, with each model: our cutout's pixels (the compositor's, for the default
look: the photo's colours, the mask scaled up bilinearly, zero colour where alpha is 0)
encoded by each candidate, in turns (interleaved, medians), beside rembg's own file for
the same photo and model (`remove()`). rembg writes its PNG with Pillow's defaults (all
five filters tried per row, zlib level 6); that encoder on our pixels is the peer every
encode time is divided by. A candidate's bytes are decoded once and compared with the
pixels: every visible pixel (alpha > 0) must come back exactly, or the row says so.
`--write` puts the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from app.images import compose, pngwriter, structure, webpwriter
from bench.common import DOCS, write_block
from bench.engine import photo

SIZES = {"12 MP": (4000, 3000), "1 MP": (1152, 864)}


def _pillow(pixels: np.ndarray, file_format: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, file_format, **options)
    return buf.getvalue()


def _before(pixels: np.ndarray) -> bytes:
    """The writer as it was: Sub rows, zlib-ng's RLE strategy at level 1, the same bands."""
    from zlib_ng import zlib_ng

    height, width, channels = pixels.shape
    flat = pixels.reshape(height, width * channels)
    out = np.empty((height, width * channels + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1:1 + channels] = flat[:, :channels]
    np.subtract(flat[:, channels:], flat[:, :-channels], out=out[:, 1 + channels:])
    rows = max(1, pngwriter.BAND_BYTES // out.shape[1])
    bands = range(0, height, rows)

    def compress(top: int) -> bytes:
        band = out[top:top + rows].tobytes()
        compressor = zlib_ng.compressobj(1, zlib_ng.DEFLATED, -15, 9, zlib_ng.Z_RLE)
        last = top + rows >= height
        return compressor.compress(band) + compressor.flush(
            zlib_ng.Z_FINISH if last else zlib_ng.Z_SYNC_FLUSH)

    stream = b"".join([b"\x78\x01", *pngwriter.POOL.map(compress, bands),
                       zlib_ng.adler32(out.tobytes()).to_bytes(4, "big")])
    header = pngwriter.struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"".join([structure.PNG_SIGNATURE, *pngwriter._chunk(b"IHDR", [header]),
                     *pngwriter._chunk(b"IDAT", [stream]), *pngwriter._chunk(b"IEND", [])])


def _zlib_ng(level: int):
    """Our writer's rows and bands, deflated by zlib-ng at `level` instead of ISA-L: what
    the size of rembg's file costs in time (zlib-ng's lazy matching; ISA-L has none)."""
    from zlib_ng import zlib_ng

    def encode(pixels: np.ndarray) -> bytes:
        real = pngwriter.isal_zlib
        pngwriter.isal_zlib = _LevelledZlibNg(zlib_ng, level)
        try:
            return pngwriter.encode(pixels)
        finally:
            pngwriter.isal_zlib = real

    return encode


class _LevelledZlibNg:
    """zlib-ng in the place of `isal_zlib`, its compressor at a fixed level."""

    def __init__(self, module, level: int):
        self._module, self._level = module, level

    def __getattr__(self, name):
        return getattr(self._module, name)

    def compressobj(self, _level, *args):
        return self._module.compressobj(self._level, *args)


def candidates() -> dict:
    made = {"PNG, ours (Up rows, ISA-L level 2, bands in parallel)": pngwriter.encode,
            "PNG, Pillow's defaults (rembg's encoder)": lambda p: _pillow(p, "PNG"),
            "PNG, before (Sub rows, zlib-ng RLE level 1)": _before}
    for level, matching in ((3, "greedy"), (4, "lazy"), (6, "lazy")):
        made[f"PNG, ours but zlib-ng level {level} ({matching} matching)"] = _zlib_ng(level)
    made["WebP lossless (method 0, quality 0)"] = lambda p: _pillow(
        p, "WEBP", lossless=True, quality=0, method=0)
    made[f"WebP lossy, alpha lossless, by Pillow (the app's `webp` until 2026-12-07: quality "
         f"{compose.WEBP_QUALITY}, method {compose.WEBP_METHOD})"] = (lambda p: _pillow(
             p, "WEBP", quality=compose.WEBP_QUALITY, alpha_quality=100,
             method=compose.WEBP_METHOD))
    made["WebP lossy, alpha lossless, by the app's writer (the same colours; the alpha "
         "filtered, at effort 0: bench/webp_alpha.py)"] = lambda p: webpwriter.encode(
             *p.shape[:2], lambda top, bottom: p[top:bottom], compose.WEBP_QUALITY,
             compose.WEBP_METHOD)
    return made


def cutout_pixels(data: bytes, model: str) -> np.ndarray:
    from app.core.forms import OutputOptions
    from app.engines.local import LocalEngine
    from app.images.compose import picture
    from app.images.decoding import Photo, probe
    from tests.support import model_path

    photo_ = Photo(data, probe(data, 10**9))
    mask = LocalEngine(model_path(model)).mask(photo_)
    return np.asarray(picture(photo_.full(), mask, OutputOptions()))


def exact(data: bytes, pixels: np.ndarray) -> bool:
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    visible = pixels[..., 3] > 0
    return bool(np.array_equal(back[visible], pixels[visible])
                and np.array_equal(back[..., 3], pixels[..., 3]))


def measure(runs: int) -> list[dict]:
    from rembg import remove

    from tests.support import rembg_session

    rows = []
    for model in ("u2netp", "u2net"):
        session = rembg_session(model)
        for label, size in SIZES.items():
            data = photo(size)
            pixels = cutout_pixels(data, model)
            theirs = len(remove(data, session=session))
            encoders = candidates()
            times = {name: [] for name in encoders}
            sizes = {name: len(encode(pixels)) for name, encode in encoders.items()}
            lossless = {name: exact(encode(pixels), pixels) for name, encode in encoders.items()
                        if "lossy" not in name}
            for _ in range(runs):
                for name, encode in encoders.items():
                    start = time.perf_counter()
                    encode(pixels)
                    times[name].append(time.perf_counter() - start)
            peer = statistics.median(times["PNG, Pillow's defaults (rembg's encoder)"])
            for name in encoders:
                took = statistics.median(times[name])
                rows.append({"model": model, "photo": f"{label} ({size[0]}×{size[1]})",
                             "encoder": name, "mb": sizes[name] / 1e6, "rembg_mb": theirs / 1e6,
                             "ms": took * 1000, "of_peer": took / peer,
                             "exact": lossless.get(name)})
                print(rows[-1], flush=True)
    return rows


def table(rows: list[dict], runs: int) -> str:
    lines = [f"`python -m bench.png_size`: the default look's cutout of bench/engine.py's photo; "
             f"medians of {runs} interleaved encodes; encode time also as a share of "
             "Pillow's defaults on the same pixels (what rembg's `remove()` spends).",
             "", "| model | photo | encoder | size | ÷ rembg's file | encode | ÷ Pillow's |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        flag = "" if r["exact"] in (True, None) else " (NOT exact)"
        lines.append(f"| {r['model']} | {r['photo']} | {r['encoder']}{flag} | "
                     f"{r['mb']:.2f} MB | {r['mb'] / r['rembg_mb']:.2f} | {r['ms']:.0f} ms | "
                     f"{r['of_peer']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true",
                        help="write the table to docs/performance.md")
    args = parser.parse_args()
    text = table(measure(args.runs), args.runs)
    print(text)
    if args.write:
        write_block(DOCS / "performance.md", "png", text)


if __name__ == "__main__":
    main()
