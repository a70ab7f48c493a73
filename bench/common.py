"""Pieces the benchmarks share: the app under gunicorn on loopback, tables in docs pages."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"  # where --write puts the tables (docs/performance.md, reliability.md)
SECRET_KEY = "bench-secret-key-0123456789"  # noqa: S105 (a throwaway app of the benches)


def uploads_app(**settings):
    """The app in this process, as the benches that time uploads through it run it:
    production mode, the local engine, limits out of the way, and no CSRF token (they time
    the upload, not the token dance)."""
    from app import create_app
    from app.settings import Settings
    from tests.support import MODELS_DIR

    app = create_app(Settings(app_env="production", secret_key=SECRET_KEY, bg_engine="local",
                              bg_models_dir=str(MODELS_DIR), user_limit=10**6,
                              log_level="WARNING", upload_rate_limit="100000 per minute",
                              upload_rate_limit_ip="100000 per minute", **settings))
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def photo(name: str, size: tuple[int, int], noise: float = 0.0, seed: int = 0,
          quality: int = 90) -> bytes:
    """A public-domain photo from scikit-image's wheel as a JPEG of `size`; light
    sensor-like noise makes an enlarged photo carry the fine detail a real camera's would."""
    import skimage.data

    base = Image.fromarray(getattr(skimage.data, name)()).resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(base).astype(np.float64)
    if noise:
        pixels += np.random.default_rng(seed).normal(0, noise, pixels.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def start_server(workers: int, threads: int, onnx: int, mongo_uri: str, folder: Path,
                 extra_env: dict | None = None, front: bool = False):
    """gunicorn as the container starts it (gunicorn.conf.py), on a free loopback port; with
    `front`, behind nginx as the pod runs it (`make serve`, scripts/serve.py)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "X_RAPID_API_KEY")}
    env.update(APP_SECRET_KEY=SECRET_KEY, PORT=str(port),
               WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads),
               ONNX_THREADS=str(onnx), USER_LIMIT="1000000", PYTHONPATH=str(ROOT),
               LOG_LEVEL="warning", BG_ENGINE="local", UPLOAD_RATE_LIMIT="100000 per minute",
               UPLOAD_RATE_LIMIT_IP="100000 per minute")
    env.update(extra_env or {})
    if mongo_uri:
        env.update(MONGO_URI=mongo_uri, MONGO_DB=f"bench_{port}")
    log_path = folder / f"gunicorn-{port}.log"
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config",
               str(ROOT / "gunicorn.conf.py")]
    if front:
        command = [sys.executable, "-m", "scripts.serve", "--app-port", str(free_port())]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(log_path.read_text())
        try:
            if requests.get(f"{base}/health", timeout=1).ok:
                return process, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start")


def write_block(page: Path, block: str, text: str) -> None:
    """Replace what stands between the `<!-- bench:{block}:start -->` and `…:end -->`
    markers in the docs page `page` (the prose around them is left alone)."""
    start, end = f"<!-- bench:{block}:start -->", f"<!-- bench:{block}:end -->"
    content = page.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise SystemExit(f"{page.relative_to(ROOT)} has no {start} … {end} block")
    page.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", content))
