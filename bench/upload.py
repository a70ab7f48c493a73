"""One upload of a ~1 MP photo against raw model inference, measured in the same process.

    make bench            (or: .venv/bin/python -m bench.upload [--runs N] [--size WxH]
                           [--model u2net])

Absolute times on a shared machine mean little; the ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import time

import numpy as np

from bench.common import photo, uploads_app


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
    parser.add_argument("--model", help="the model to upload with (default: the app's)")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))

    app = uploads_app()
    local = app.extensions["services"].engines.primary
    model = args.model or local.default
    engine = local.engine(model)
    data = photo("astronaut", size)

    feed = np.random.default_rng(0).random((1, 3, *engine.input_size[::-1]), dtype=np.float32)
    engine.model.infer(feed)  # warm-up: first run allocates

    client = app.test_client()

    def upload():
        # As the page's script posts it: the answer says whether the image was made.
        form = {"name": "bench", "image": (io.BytesIO(data), "a.jpg"), "model": model}
        response = client.post("/", data=form,
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
    print(f"photo: {args.size} JPEG, {len(data) / 1e6:.2f} MB; model: {model}; "
          f"runs: {args.runs} each, medians")
    print(f"raw model inference      {raw_s * 1000:7.0f} ms   1.00x")
    print(f"one upload (HTTP->store) {full_s * 1000:7.0f} ms   {full_s / raw_s:.2f}x")
    assert count > 0


if __name__ == "__main__":
    main()
