"""bench/quality.py's results as Markdown tables, and writing them into docs/quality.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.common import write_block
from bench.metrics import BAND_PX

START, END = "<!-- bench:quality:start -->", "<!-- bench:quality:end -->"
BASELINE = "bilinear"
# A per-image difference smaller than this (alpha levels) is not counted as "worse".
TOLERANCE = 0.05


def _mean(rows, key):
    return float(np.mean([r[key] for r in rows]))


def _worse(rows, base, key):
    return sum(r[key] > b[key] + TOLERANCE for r, b in zip(rows, base, strict=True))


def quality_table(results: dict) -> list[str]:
    lines = ["| model | edge step | IoU | MAE | MAE band | MAE outside | colour band "
             "| fg colour band | worse: band | outside | colour |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (model, step), rows in results.items():
        base = results[model, BASELINE]
        lines.append(
            f"| {model} | {step} | {_mean(rows, 'iou'):.4f} | {_mean(rows, 'mae'):.2f} "
            f"| {_mean(rows, 'mae_band'):.2f} | {_mean(rows, 'mae_out'):.3f} "
            f"| {_mean(rows, 'colour_band'):.2f} | {_mean(rows, 'fg_band'):.2f} "
            f"| {_worse(rows, base, 'mae_band')}/{len(rows)} "
            f"| {_worse(rows, base, 'mae_out')}/{len(rows)} "
            f"| {_worse(rows, base, 'colour_band')}/{len(rows)} |")
    return lines


def breakdown(results: dict, scenes: list, by: int, key: str, steps: tuple) -> list[str]:
    """Means of `key` per subject (by=0) or per background (by=1), for some steps."""
    groups = list(dict.fromkeys(scene[by] for scene in scenes))
    lines = ["| model | edge step | " + " | ".join(groups) + " |",
             "|---|---|" + "---|" * len(groups)]
    for (model, step), rows in results.items():
        if step not in steps:
            continue
        cells = [np.mean([r[key] for r, scene in zip(rows, scenes, strict=True)
                          if scene[by] == group]) for group in groups]
        lines.append(f"| {model} | {step} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return lines


# The previous "Refine edges", the new one, and the reference they are measured against.
COMPARED = ("bilinear", "guided+despill", "matte+despill", "rembg matting")


def per_composite(results: dict, scenes: list, model: str) -> list[str]:
    """Band MAE / MAE / colour error in the band, per composite, for the compared steps."""
    steps = [s for s in COMPARED if (model, s) in results]
    lines = ["| composite | " + " | ".join(steps) + " |", "|---|" + "---|" * len(steps)]
    for i, scene in enumerate([*scenes, None]):
        cells = []
        for step in steps:
            rows = results[model, step] if scene is None else [results[model, step][i]]
            cells.append(" / ".join(f"{_mean(rows, k):.2f}"
                                    for k in ("mae_band", "mae", "colour_band")))
        name = "**mean**" if scene is None else "/".join(scene)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def time_table(step_times: dict, timings: dict) -> list[str]:
    sizes = [s for s in timings if s.endswith(" MP")]
    peer = "raw u2netp" if "raw u2netp" in timings[sizes[0]] else next(
        k for k in timings[sizes[0]] if k.startswith("raw "))
    head = "| step | " + " | ".join(f"{s} (s) | {s} ÷ {peer}" for s in sizes)
    lines = [head + " |", "|---|" + "---|---|" * len(sizes)]
    names = list(dict.fromkeys(k for size in sizes for k in timings[size]))
    for name in names:
        cells = []
        for size in sizes:
            seconds = timings[size].get(name)
            cells.append("– | –" if seconds is None else
                         f"{seconds:.3f} | {seconds / timings[size][peer]:.2f}×")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "rembg matting's time over each edge step's, same size, same run:", "",
              "| step | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for step in ("guided", "guided+despill", "matte", "matte+despill"):
        ratios = [timings[size]["rembg matting"] / timings[size][step]
                  if "rembg matting" in timings[size] and step in timings[size] else None
                  for size in sizes]
        lines.append(f"| {step} | " + " | ".join(
            "–" if r is None else f"**{r:.1f}×**" for r in ratios) + " |")
    added = [timings[size]["render + Refine edges"] - timings[size]["render"] for size in sizes]
    lines.append("| Refine edges in the app (render with it − without) | " + " | ".join(
        f"{seconds:.3f} s: **{timings[size]['rembg matting'] / seconds:.1f}×**"
        if "rembg matting" in timings[size] and seconds > 0 else f"{seconds:.3f} s"
        for size, seconds in zip(sizes, added, strict=True)) + " |")
    return lines


def big_table(timings: dict) -> list[str]:
    scores = timings.get("scores")
    if not scores:
        return []
    lines = ["| edge step | IoU | MAE | MAE band | MAE outside | colour band | fg colour band |",
             "|---|---|---|---|---|---|---|"]
    for step, s in scores.items():
        lines.append(f"| {step} | {s['iou']:.4f} | {s['mae']:.2f} | {s['mae_band']:.2f} "
                     f"| {s['mae_out']:.3f} | {s['colour_band']:.2f} | {s['fg_band']:.2f} |")
    return lines


def markdown(results, step_times, timings, scenes, notes) -> str:
    n = len(scenes)
    out = [f"Quality: {n} composites at 1152×864, band = {BAND_PX} px either side of the true "
           "edge. Means over the composites; \"worse\": composites where the step's error "
           "(alpha in the band, alpha outside it, colour in the band) is higher than "
           f"bilinear's (same model) by more than {TOLERANCE} levels.", ""]
    out += quality_table(results)
    out += ["", "MAE in the band per subject (mean over its backgrounds):", ""]
    out += breakdown(results, scenes, 0, "mae_band",
                     ("bilinear", "levels", "guided", "matte", "rembg matting"))
    out += ["", "Colour error in the band per background (mean over the subjects):", ""]
    out += breakdown(results, scenes, 1, "colour_band",
                     ("bilinear", "despill", "guided+despill", "matte", "matte+despill",
                      "rembg matting"))
    for model in dict.fromkeys(m for m, _ in results):
        out += ["", f"Per composite, {model}: MAE in the band / MAE overall / colour error in "
                "the band:", ""]
        out += per_composite(results, scenes, model)
    out += ["", f"Time per image, after the mask is made ({timings['model']}'s mask of "
            "horse/gravel), medians of runs interleaved step by step; raw inference of each "
            "model in the same run (rembg matting at 12 MP once, after the others):", ""]
    out += time_table(step_times, timings)
    big = big_table(timings)
    if big:
        out += ["", f"The same scene at 12 MP (4000×3000, band "
                f"{round(BAND_PX * 3000 / 864)} px), {timings['model']}:", "", *big]
    if notes:
        out += ["", *(f"Note: {note}" for note in notes)]
    return "\n".join(out)


def write(path: Path, text: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{START}\n{END}\n")
    write_block(path, "quality", text)
