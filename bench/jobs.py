"""A worker's memory for each kind of job, per megapixel: what the pod's limits and the
admission's price follow from (docs/scaling.md). Shared by bench/memory.py and
tests/system/test_memory.py.

Each job runs alone on a server with one worker. Before it, the worker's peak (VmHWM) is
reset (`/proc/PID/clear_refs`), so the peak read after it is that job's; its idle RSS is
read before and a second after (the worker hands memory back as a request ends,
gunicorn.conf.py).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from PIL import Image, ImageDraw

from tests.processes import memory

API = "/api/v1"
MB = 1024 * 1024


def noisy_alpha_png(size: tuple[int, int]) -> bytes:
    """A photo whose own transparency is random bits: the costliest alpha to code
    losslessly (WebP's), yet a small file (one bit of entropy a pixel)."""
    width, height = size
    rng = np.random.default_rng(0)
    colours = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    rgb = np.asarray(Image.fromarray(colours).resize(size, Image.Resampling.NEAREST))
    alpha = (rng.random((height, width)) < 0.5).astype(np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def flat_png(size: tuple[int, int], seed: int = 0) -> bytes:
    """A large PNG that is a small file, as the issue's 48 KB one of 49.7 MP: a photo of
    a few flat shapes. Small to send, full size to decode, mask and compose."""
    width, height = size
    rng = np.random.default_rng(seed)
    small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.NEAREST)
    disc = Image.new("L", size, 0)
    ImageDraw.Draw(disc).ellipse((width // 4, height // 6, 3 * width // 4, 5 * height // 6),
                                 fill=255)
    img.paste((230, 200, 40), mask=disc)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


class Client:
    """One visitor of the JSON API: its cookies and CSRF token."""

    def __init__(self, base: str):
        self.base, self.session = base, requests.Session()
        self.token = self.session.get(f"{base}{API}/session", timeout=30).json()["csrf_token"]

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-CSRFToken": self.token, "Connection": "close"}
        return self.session.request(method, f"{self.base}{API}{path}", headers=headers,
                                    timeout=600, **kwargs)

    def upload(self, photo: bytes, backdrop: bytes | None = None, **options) -> dict:
        kind = "png" if photo.startswith(b"\x89PNG") else "jpeg"
        files = {"image": (f"photo.{kind}", photo, f"image/{kind}")}
        fields = {"name": "memory", **{k: str(v).lower() for k, v in options.items()}}
        if backdrop is not None:
            kind = "png" if backdrop.startswith(b"\x89PNG") else "jpeg"
            files["background_image"] = (f"backdrop.{kind}", backdrop, f"image/{kind}")
            fields["output"] = "image"
        response = self._send("POST", "/records", data=fields, files=files)
        assert response.status_code == 201, (response.status_code, response.text[:300])
        return response.json()

    def remove(self, photo: bytes, backdrop: bytes, **options) -> bytes:
        """POST /remove: the result over `backdrop`, stored nowhere."""
        files = {"image": ("photo.jpg", photo, "image/jpeg"),
                 "background_image": ("backdrop.jpg", backdrop, "image/jpeg")}
        fields = {"output": "image", **{k: str(v).lower() for k, v in options.items()}}
        response = self._send("POST", "/remove", data=fields, files=files)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        return response.content

    def edit(self, record: dict, **changes) -> dict:
        response = self._send("PATCH", f"/records/{record['id']}", json=changes)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        return response.json()

    def delete(self, record: dict) -> None:
        response = self._send("DELETE", f"/records/{record['id']}")
        assert response.status_code == 204, response.status_code


@dataclass(frozen=True)
class Measured:
    job: str
    megapixels: float  # the photo's; a backdrop of the same size is not counted
    idle_before: int
    peak: int
    idle_after: int

    @property
    def bytes_per_pixel(self) -> float:
        """The job's peak over the idle worker, per pixel of the photo."""
        return (self.peak - self.idle_before) / (self.megapixels * 1e6)


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def settled_rss(pid: int, seconds: float = 1.0) -> int:
    """VmRSS once the request before has ended and the worker has handed memory back."""
    time.sleep(seconds)
    return memory(pid)["VmRSS"]


def measure(pid: int, job: str, megapixels: float, work) -> tuple[Measured, object]:
    """`work()` run alone on the worker `pid`: its peak and the idle RSS around it."""
    before = settled_rss(pid)
    reset_peak(pid)
    result = work()
    peak = memory(pid)["VmHWM"]
    return Measured(job, megapixels, before, peak, settled_rss(pid)), result


def per_megapixel(base: str, pid: int, sizes: dict[str, tuple[bytes, bytes]]) -> list:
    """For each photo (label -> (photo, backdrop of the same size)): an upload, an upload
    over the backdrop with refined edges, and a re-render of that (PATCH: cropped, over the
    stored backdrop, refined again); each record deleted before the next idle reading but
    the one the re-render needs."""
    client, rows = Client(base), []
    for label, (photo, backdrop) in sizes.items():
        with Image.open(io.BytesIO(photo)) as img:
            megapixels = img.width * img.height / 1e6
        measured, record = measure(pid, f"{label}: upload", megapixels,
                                   lambda p=photo: client.upload(p))
        client.delete(record)
        rows.append(measured)
        measured, record = measure(
            pid, f"{label}: upload + background + refine_edges", megapixels,
            lambda p=photo, b=backdrop: client.upload(p, b, refine_edges=True))
        rows.append(measured)
        measured, edited = measure(pid, f"{label}: re-render (PATCH crop, refined)",
                                   megapixels, lambda r=record: client.edit(r, crop=True))
        client.delete(edited)
        rows.append(Measured(measured.job, megapixels, measured.idle_before, measured.peak,
                             settled_rss(pid)))
    return rows


def table(rows: list[Measured]) -> str:
    lines = ["| job | photo | idle before | peak (VmHWM) | peak − idle, per pixel | idle after |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in rows:
        lines.append(f"| {m.job.split(': ', 1)[1]} | {m.megapixels:.1f} MP | "
                     f"{m.idle_before / MB:.0f} MiB | {m.peak / MB:.0f} MiB | "
                     f"{m.bytes_per_pixel:.1f} B | {m.idle_after / MB:.0f} MiB |")
    return "\n".join(lines)
