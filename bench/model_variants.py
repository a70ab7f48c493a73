"""Cheaper ways to run U²-Net on a CPU, against the float32 model as shipped.

    .venv/bin/python -m bench.model_variants [--models u2netp,u2net] [--runs 7]

For each model it makes, in a temporary folder, the variants the issue asks about:
- `offline`: onnxruntime's graph optimisations (all levels) applied once and saved
  (`SessionOptions.optimized_model_filepath`), then loaded with optimisation off;
- `int8-qdq`: static int8 quantisation in QDQ form (`quantize_static`, per-channel weights,
  uint8 activations, MinMax calibration) over real photos (`CALIBRATION`), after onnxruntime's
  own pre-processing (`quant_pre_process`); and the same for only the first `PARTIAL` of the
  graph's nodes (the encoder's full-resolution stages, where most of the arithmetic is),
  the rest left in float32;
- `1-thread`: the float32 model with one intra-op thread (the app's ONNX_THREADS=1).
Then, interleaved (A, B, C, C, B, A...) and as medians, it times raw inference on a prepared
320×320 tensor, and scores each variant's masks against float32's on the quality photos
(`EVALUATION`: bench/composites.py's 15 scenes at 1 MP and four scikit-image photos): the
IoU of alpha > 127, per photo; the table gives the lowest and the mean. Calibration and
evaluation share no image as given (the calibration photos are crops and mirror images).
Needs `onnx` and `sympy` (`.venv/bin/pip install onnx sympy`: quantisation tooling, not in
requirements-dev.txt while no derived model ships).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench import composites

CALIBRATION = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina",
               "hubble_deep_field")
EVALUATION = ("astronaut", "chelsea", "coffee", "rocket")
PARTIAL = 0.4  # of the nodes, in the graph's order; 0.25-0.46 were tried (docs/models.md)


def calibration_images() -> list[Image.Image]:
    """Each calibration photo mirrored, and three crops of it (never the photo as given)."""
    import skimage.data

    out = []
    for name in CALIBRATION:
        img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        w, h = img.size
        out.append(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        for box in ((0, 0, w * 3 // 4, h * 3 // 4), (w // 4, h // 4, w, h),
                    (w // 8, 0, w * 7 // 8, h)):
            out.append(img.crop(box))
    return out


def evaluation_images() -> dict[str, Image.Image]:
    import skimage.data

    made = {f"{s}/{b}": composites.composite(s, b).image
            for s in composites.SUBJECTS for b in composites.BACKGROUNDS}
    made.update({name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
                 for name in EVALUATION})
    return made


def model_input(img: Image.Image) -> np.ndarray:
    """What the engine feeds the model (app/engines/local.py's predict)."""
    from app.engines.local import MEAN, STD

    arr = np.asarray(img.convert("RGB").resize((320, 320), Image.Resampling.LANCZOS),
                     np.float32)
    arr /= max(float(arr.max()), 1.0)
    return ((arr - MEAN) / STD).transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def session(path: Path, threads: int = 0, optimise: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not optimise:  # already optimised offline
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def offline(source: Path, target: Path) -> Path:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
    return target


def int8_qdq(source: Path, folder: Path, method: str = "MinMax", exclude: int = 0,
             first: float = 1.0, **extra) -> Path:
    """Static int8 QDQ; `exclude`: leave the last so many nodes (the side outputs' fusion
    and sigmoids, where the mask's soft values are made) in float32; `first`: quantise only
    that share of the nodes, from the input on."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = folder / f"{source.stem}-prep.onnx"
    target = folder / f"{source.stem}-int8-{method}-{exclude}-{first}.onnx"
    # Per-channel scales need DequantizeLinear's `axis`, which came with opset 13.
    upgraded = folder / f"{source.stem}-opset13.onnx"
    onnx.save(version_converter.convert_version(onnx.load(str(source)), 13), str(upgraded))
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    name = session(source).get_inputs()[0].name

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{name: model_input(img)} for img in calibration_images()])

        def get_next(self):
            return next(self.feeds, None)

    nodes = [n.name for n in onnx.load(str(prepared)).graph.node]
    exclude = max(exclude, len(nodes) - int(len(nodes) * first))
    quantize_static(str(prepared), str(target), Photos(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, method),
                    nodes_to_exclude=nodes[len(nodes) - exclude:] if exclude else [],
                    **extra)
    return target


def interleaved_medians(calls: dict, runs: int) -> dict[str, float]:
    """Each call's median seconds over `runs`, the calls taking turns forwards, then
    backwards: no variant always runs first."""
    times = {name: [] for name in calls}
    for turn in range(runs):
        order = list(calls.items())
        for name, call in order if turn % 2 == 0 else reversed(order):
            begin = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(taken) for name, taken in times.items()}


def normalised(output: np.ndarray) -> np.ndarray:
    """The model's first output as a mask from 0 to 1, as the engine scales it."""
    pred = output[0, 0]
    low, high = float(pred.min()), float(pred.max())
    return (pred - low) / (high - low) if high > low else np.zeros_like(pred)


def mask(sess, feed: np.ndarray) -> np.ndarray:
    return normalised(sess.run(None, {sess.get_inputs()[0].name: feed})[0])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x, y = a > 0.5, b > 0.5
    union = np.logical_or(x, y).sum()
    return float(np.logical_and(x, y).sum() / union) if union else 1.0


def measure(model: str, runs: int, folder: Path) -> list[dict]:
    from tests.support import model_path

    source = Path(model_path(model))
    start = time.perf_counter()
    variants = {"float32 as shipped": session(source)}
    load = {"float32 as shipped": time.perf_counter() - start}
    path = offline(source, folder / f"{model}-offline.onnx")
    start = time.perf_counter()
    variants["offline-optimised"] = session(path, optimise=False)
    load["offline-optimised"] = time.perf_counter() - start
    path = int8_qdq(source, folder)
    start = time.perf_counter()
    variants["int8 QDQ (static, per-channel)"] = session(path)
    load["int8 QDQ (static, per-channel)"] = time.perf_counter() - start
    partial = f"int8 QDQ, first {PARTIAL:.0%} of nodes"
    path = int8_qdq(source, folder, first=PARTIAL)
    start = time.perf_counter()
    variants[partial] = session(path)
    load[partial] = time.perf_counter() - start
    variants["float32, 1 thread"] = session(source, threads=1)
    load["float32, 1 thread"] = load["float32 as shipped"]
    feeds = {name: model_input(img) for name, img in evaluation_images().items()}
    reference = {name: mask(variants["float32 as shipped"], feed) for name, feed in feeds.items()}
    scores = {v: [iou(mask(s, feed), reference[n]) for n, feed in feeds.items()]
              for v, s in variants.items()}
    probe = next(iter(feeds.values()))
    took_each = interleaved_medians(
        {v: (lambda s=s: s.run(None, {s.get_inputs()[0].name: probe}))
         for v, s in variants.items()}, runs)
    base = took_each["float32 as shipped"]
    rows = []
    for v in variants:
        took = took_each[v]
        rows.append({"model": model, "variant": v, "ms": took * 1000, "speedup": base / took,
                     "iou_min": min(scores[v]), "iou_mean": statistics.mean(scores[v]),
                     "load_s": load[v]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp,u2net")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            rows += measure(model, args.runs, Path(tmp))
    print("| model | variant | raw inference | speed-up | mask IoU, lowest / mean | load |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['variant']} | {r['ms']:.0f} ms | {r['speedup']:.2f}× | "
              f"{r['iou_min']:.3f} / {r['iou_mean']:.3f} | {r['load_s']:.2f} s |")


if __name__ == "__main__":
    main()
