"""What a hostile body costs before it is refused, against a real photo's check.

    .venv/bin/python -m bench.refusals [--runs 3] [--write]

Each row is a body any visitor (a photo) or any key (remove.bg's text fields) can send,
as large as an upload (15 MB), timed through the function that reads it first: the
photo's check (`probe`, in the request's thread, before any allowance is spent), the
urlencoded form's escape check, remove.bg's base64 reader, and the bounds on a JSON body's
other values and on a multipart form's part headers. The peer, run in the same process, is
the check of bench/engine.py's 12 MP photo (a 1.6 MB JPEG): a row under 1× costs less than
an honest upload's check. Medians of `--runs` interleaved runs. `--write` puts the table in
docs/security.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import time

from PIL import Image

from app.core.errors import Rejected
from app.http import urlencoded
from app.http.bodies import _outside_values
from app.http.sizes import json_values
from app.images.decoding import InvalidImage, probe
from app.removebg.fields import _base64
from bench.common import DOCS, write_block
from bench.engine import photo

SIZE = 15 * 2**20
MAX_PIXELS = 50_000_000


def _small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _checked(data: bytes) -> str:
    try:
        probe(data, MAX_PIXELS)
    except InvalidImage as exc:
        return exc.message.split(", far more")[0].split(". ")[0]
    return "taken"


def _base64_read(text: str) -> str:
    try:
        _base64(text)
    except Rejected:
        return "refused"
    return "read"


def _form(headers: bytes, value: bytes) -> bytes:
    return (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            + headers + b"\r\n" + value + b"\r\n--XX--\r\n")


def _part_headers(body: bytes) -> int:
    return _outside_values(body, b"--XX")


def cases() -> list[tuple[str, object, object]]:
    """(what, how it is read, the body)."""
    small = _small_jpeg()
    return [
        ("JPEG: FF D8, then 15 MB of FF fill", _checked, b"\xff\xd8" + b"\xff" * SIZE),
        ("JPEG: 15 MB of restart markers", _checked, b"\xff\xd8" + b"\xff\xd0" * (SIZE // 2)),
        ("JPEG: 15 MB of TEM markers", _checked, b"\xff\xd8" + b"\xff\x01" * (SIZE // 2)),
        ("JPEG: 15 MB of escaped zeros", _checked, b"\xff\xd8" + b"\xff\x00" * (SIZE // 2)),
        ("JPEG: 15 MB of zeros", _checked, b"\xff\xd8\xff" + b"\x00" * SIZE),
        ("JPEG 64×48, 15 MB of fill after its scan", _checked,
         small[:-2] + b"\xff" * SIZE + small[-2:]),
        ("JPEG 64×48, 15 MB of TEM after its scan", _checked,
         small[:-2] + b"\xff\x01" * (SIZE // 2) + small[-2:]),
        ("JPEG 64×48, 15 MB of empty comments after its scan", _checked,
         small[:-2] + b"\xff\xfe\x00\x02" * (SIZE // 4) + small[-2:]),
        ("form: one run of 15 MB of %C3%A9", urlencoded.escapes_are_utf8,
         b"image_file_b64=" + b"%C3%A9" * (SIZE // 6)),
        ("base64: an honest photo, 15 MB of text", _base64_read,
         base64.b64encode(photo((4000, 3000)) * 7)[:SIZE // 4 * 4].decode()),
        ("base64: 15 MB in lines ended by U+2028", _base64_read,
         ("QUJD" * 19 + "\u2028") * (SIZE // 79)),
        ("base64: 5 million U+3000", _base64_read, "\u3000" * (SIZE // 3)),
        ("base64: 15 MB of é", _base64_read, "é" * (SIZE // 2)),
        ("form: 15 MB of part headers (counted, not parsed)", _part_headers,
         _form(b"X-A: b\r\n" * (SIZE // 8), b"auto")),
        ("form: an honest 12 MP photo's part headers", _part_headers,
         _form(b"Content-Type: image/jpeg\r\n", photo((4000, 3000)))),
        ("JSON: a million keys beside a photo (counted, not parsed)", json_values,
         b"{" + b'"k":0,' * 1_000_000 + b'"image_file_b64":"QUJD"}'),
    ]


def _timed(read, body) -> tuple[float, object]:
    started = time.perf_counter()
    answer = read(body)
    return time.perf_counter() - started, answer


def measure(runs: int) -> tuple[float, list[dict]]:
    honest = photo((4000, 3000))
    rows = [{"what": what, "read": read, "body": body, "times": []}
            for what, read, body in cases()]
    peer = []
    for _ in range(runs):  # interleaved: the peer between every row
        for row in rows:
            peer.append(_timed(_checked, honest)[0])
            seconds, row["answer"] = _timed(row["read"], row["body"])
            row["times"].append(seconds)
    return statistics.median(peer), rows


def table(peer: float, rows: list[dict], runs: int) -> str:
    lines = [f"`python -m bench.refusals --runs {runs}`: medians of interleaved runs; the peer "
             f"is the check of a 12 MP photo (1.6 MB JPEG), {peer * 1000:.0f} ms here.", "",
             "| body | answer | time | ÷ a 12 MP photo's check |", "|---|---|---:|---:|"]
    for row in rows:
        seconds = statistics.median(row["times"])
        answer = row["answer"]
        answer = f"{answer:,}" if isinstance(answer, int) and not isinstance(answer, bool) \
            else str(answer)
        lines.append(f"| {row['what']} | {answer} | {seconds * 1000:.0f} ms | "
                     f"{seconds / peer:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="put the table in docs/security.md")
    args = parser.parse_args()
    peer, rows = measure(args.runs)
    text = table(peer, rows, args.runs)
    print(text)
    if args.write:
        write_block(DOCS / "security.md", "refusals", text)


if __name__ == "__main__":
    main()
