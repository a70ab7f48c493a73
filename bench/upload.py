"""One upload of a ~1 MP photo against raw model inference, measured in the same process.

    make bench            (or: .venv/bin/python -m bench.upload [--runs N] [--size WxH])

Absolute times on a shared machine mean little; the ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import time

import numpy as np

from app import create_app
from app.settings import Settings
from bench.common import photo
from tests.support import MODELS_DIR


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", default="1024x1024", help="the photo's width x height")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))

    settings = Settings(app_env="production", secret_key="bench-secret-key-0123456789",
                        bg_engine="local", bg_models_dir=str(MODELS_DIR),
                        user_limit=10**6, log_level="WARNING",
                        upload_rate_limit="100000 per minute",
                        upload_rate_limit_ip="100000 per minute")
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False  # the bench times the upload, not the token dance
    engine = app.extensions["services"].engines.primary.engine()
    data = photo("astronaut", size)

    feed = np.random.default_rng(0).random((1, 3, *engine.input_size[::-1]), dtype=np.float32)
    engine.model.infer(feed)  # warm-up: first run allocates

    client = app.test_client()

    def upload():
        # As the page's script posts it: the answer says whether the image was made.
        response = client.post("/", data={"name": "bench", "image": (io.BytesIO(data), "a.jpg")},
                               headers={"Accept": "application/json"})
        assert response.status_code == 201, response.get_json()

    upload()

    # Interleave the two measurements so both see the same machine load.
    raw, full = [], []
    for _ in range(args.runs):
        raw.append(median_seconds(lambda: engine.model.infer(feed), 1))
        full.append(median_seconds(upload, 1))
    raw_s, full_s = statistics.median(raw), statistics.median(full)
    count = len(re.findall(r"data-record-id", client.get("/").get_data(as_text=True)))
    print(f"photo: {args.size} JPEG, {len(data) / 1e6:.2f} MB; runs: {args.runs} each, medians")
    print(f"raw model inference      {raw_s * 1000:7.0f} ms   1.00x")
    print(f"one upload (HTTP->store) {full_s * 1000:7.0f} ms   {full_s / raw_s:.2f}x")
    assert count > 0


if __name__ == "__main__":
    main()
