"""OpenVINO computing in bfloat16, whole or in part, against its float32 (the app's setting).

    .venv/bin/python -m bench.bfloat16 [--models u2netp,u2net] [--runs 7] [--kept 0.15,0.3]

On a CPU with AVX512_BF16 or AMX, OpenVINO computes in bfloat16 unless told otherwise
(app/engines/runtimes.py sets `INFERENCE_PRECISION_HINT` to f32). This times, on one
thread each, OpenVINO's float32 and bfloat16, and bfloat16 with the last share (`--kept`)
of the graph's convolutions kept in float32: those layers are marked in the model's IR
with the `DisablePrecisionConversion` runtime attribute, which OpenVINO's CPU plugin obeys
(the last ones, since the mask's soft values are made there). Each variant's masks are
scored as bench/model_variants.py scores its own: IoU of alpha > 127 against onnxruntime's
float32 on the quality photos; the table gives the lowest and the mean.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.model_variants import (
    evaluation_images,
    interleaved_medians,
    iou,
    model_input,
    normalised,
    session,
)
from bench.model_variants import mask as onnx_mask


def plain_ir(model: str, folder: Path) -> Path:
    """The model as OpenVINO IR at the app's input size, nothing marked."""
    import openvino as ov

    from tests.support import model_path

    source = ov.Core().read_model(model_path(model))
    source.reshape([1, 3, 320, 320])
    plain = folder / f"{model}.xml"
    ov.save_model(source, plain, compress_to_fp16=False)
    return plain


def with_float32(plain: Path, kept: float) -> Path:
    """`plain` with the last `kept` share of its convolutions marked to stay float32
    whatever precision the CPU computes the rest in (the weights shared, not copied)."""
    tree = ET.parse(plain)  # noqa: S314 (written by plain_ir, not received)
    convolutions = [layer for layer in tree.getroot().iter("layer")
                    if layer.get("type") == "Convolution"]
    for layer in convolutions[len(convolutions) - round(len(convolutions) * kept):]:
        info = layer.find("rt_info")
        if info is None:
            info = ET.SubElement(layer, "rt_info")
        ET.SubElement(info, "attribute", name="DisablePrecisionConversion", version="0",
                      value="dynamic:dynamic")
    target = plain.with_name(f"{plain.stem}-{kept}.xml")
    tree.write(target)
    os.link(plain.with_suffix(".bin"), target.with_suffix(".bin"))
    return target


def compiled(path: Path, precision: str):
    import openvino as ov

    core = ov.Core()
    return core.compile_model(core.read_model(path), "CPU", {
        "INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": False,
        "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1})


def float32_convolutions(compiled_model) -> tuple[int, int]:
    """(in float32, in all) of the convolutions as the CPU plugin compiled them: whether the
    marks were obeyed, not assumed."""
    precisions = [op.get_rt_info()["runtimePrecision"].astype(str)
                  for op in compiled_model.get_runtime_model().get_ordered_ops()
                  if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    return precisions.count("f32"), len(precisions)


def measure(model: str, runs: int, kept: list[float], folder: Path) -> list[dict]:
    from tests.support import model_path

    plain = plain_ir(model, folder)
    variants = {"float32 (the app's)": compiled(plain, "f32"),
                "bfloat16": compiled(plain, "bf16")}
    for share in kept:
        variant = compiled(with_float32(plain, share), "bf16")
        in_float32, convolutions = float32_convolutions(variant)
        if in_float32 != round(convolutions * share):
            raise SystemExit(f"{model}: {in_float32} of {convolutions} convolutions compiled "
                             f"in float32, not the {share:.0%} marked")
        variants[f"bfloat16, last {share:.0%} of convolutions float32"] = variant
    feeds = {name: model_input(img) for name, img in evaluation_images().items()}
    shipped = session(Path(model_path(model)))
    reference = {name: onnx_mask(shipped, feed) for name, feed in feeds.items()}
    scores = {v: [iou(normalised(c(feed)[0]), reference[n]) for n, feed in feeds.items()]
              for v, c in variants.items()}
    probe = feeds["rocket"]
    took_each = interleaved_medians({v: (lambda c=c: c(probe)) for v, c in variants.items()},
                                    runs)
    base = took_each["float32 (the app's)"]
    rows = []
    for v in variants:
        took = took_each[v]
        worst = min(range(len(feeds)), key=scores[v].__getitem__)
        rows.append({"model": model, "variant": v, "ms": took * 1000, "speedup": base / took,
                     "iou_min": scores[v][worst], "worst": list(feeds)[worst],
                     "iou_mean": statistics.mean(scores[v])})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp,u2net")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--kept", default="0.15,0.3",
                        help="shares of the convolutions, from the end, kept in float32")
    args = parser.parse_args()
    kept = sorted({float(share) for share in args.kept.split(",") if share})
    if not all(0 < share <= 1 for share in kept):
        parser.error("--kept: shares between 0 (excluded) and 1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            rows += measure(model, args.runs, kept, Path(tmp))
    print("| model | OpenVINO computing in | raw inference, 1 thread | speed-up "
          "| mask IoU, lowest (photo) / mean |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        worst = f" ({r['worst']})" if r["iou_min"] < 1 else ""  # no photo is worst then
        print(f"| {r['model']} | {r['variant']} | {r['ms']:.0f} ms | {r['speedup']:.2f}× | "
              f"{r['iou_min']:.3f}{worst} / {r['iou_mean']:.3f} |")


if __name__ == "__main__":
    main()
