"""OpenVINO's own int8 post-training quantisation (NNCF) of a model, against its float32 IR.

    python -m venv /tmp/nncf && /tmp/nncf/bin/pip install -r requirements.txt \\
        scikit-image scipy nncf==3.4.0
    /tmp/nncf/bin/python -m bench.openvino_int8 [--models u2netp,u2net] [--preset mixed]

NNCF is not a requirement of the app nor of its tests (it pulls in pandas, scikit-learn and
more), hence a venv of its own. The model is calibrated on bench/model_variants.py's photos
(crops and mirror images) and scored on its evaluation photos as that script scores
onnxruntime's QDQ file: the IoU of alpha > 127 against float32's masks, lowest and mean.
Raw inference on one thread each, float32 asked for where a layer is not int8 (the app's
setting), interleaved, medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from app.model_files import DEFAULT_DIR
from bench.model_variants import calibration_images, evaluation_images, model_input

CONFIG = {"INFERENCE_NUM_THREADS": 1, "INFERENCE_PRECISION_HINT": "f32",
          "ENABLE_CPU_PINNING": False}


def mask(compiled, feed: np.ndarray) -> np.ndarray:
    """alpha > 127 as the engine makes alpha: the output scaled to its own range, 256 bins."""
    pred = compiled(feed)[compiled.outputs[0]][0, 0]
    low, high = float(pred.min()), float(pred.max())
    return (pred - low) / (high - low) >= 0.5 if high > low else np.zeros(pred.shape, bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def main() -> None:
    import nncf
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp")
    parser.add_argument("--preset", default="mixed", choices=("mixed", "performance"))
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    core = ov.Core()
    calibration = [model_input(img) for img in calibration_images()]
    evaluation = {name: model_input(img) for name, img in evaluation_images().items()}
    for name in args.models.split(","):
        graph = str(DEFAULT_DIR / f"{name}.xml")
        whole = core.compile_model(core.read_model(graph), "CPU", CONFIG)
        started = time.monotonic()
        small = nncf.quantize(core.read_model(graph), nncf.Dataset(calibration),
                              preset=getattr(nncf.QuantizationPreset, args.preset.upper()),
                              subset_size=len(calibration))
        took = time.monotonic() - started
        quantised = core.compile_model(small, "CPU", CONFIG)
        scores = {photo: iou(mask(quantised, feed), mask(whole, feed))
                  for photo, feed in evaluation.items()}
        feed = next(iter(evaluation.values()))
        times: dict = {whole: [], quantised: []}
        for run in range(args.runs):  # in turns, forwards then backwards
            for compiled in (whole, quantised)[::1 if run % 2 == 0 else -1]:
                start = time.perf_counter()
                compiled(feed)
                times[compiled].append(time.perf_counter() - start)
        fp32, int8 = (statistics.median(times[c]) for c in (whole, quantised))
        lowest = min(scores, key=scores.get)
        print(f"{name}, NNCF {nncf.__version__} preset {args.preset} (quantised in {took:.0f} s): "
              f"float32 {fp32 * 1000:.0f} ms, int8 {int8 * 1000:.0f} ms, {fp32 / int8:.2f}x; "
              f"mask IoU lowest {scores[lowest]:.3f} ({lowest}), "
              f"mean {statistics.mean(scores.values()):.3f}")


if __name__ == "__main__":
    main()
