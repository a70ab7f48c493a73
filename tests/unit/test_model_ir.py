"""OpenVINO's form of each model (its IR: the graph in .xml, the weights in .bin): written by
`make models` from the verified .onnx with the real openvino, checked against the catalogue
like the weights, read by the runtime when it is there, and making the very masks of the
.onnx with the weights mapped from the file (tests/system/test_models.py: u2net's memory)."""

import dataclasses
import hashlib
import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import create_app, model_files
from app.engines import runtimes
from app.engines.local import LocalEngine
from app.model_files import check, model_file
from scripts import models
from tests.support import MODELS_DIR, model_path, photo_array

GRAPH, WEIGHTS = b"<net>a graph</net>", bytes(range(256)) * 8


def tiny_ir_model(folder: Path) -> model_files.Model:
    """A catalogue entry for stand-in files written into `folder`: tiny.onnx and its IR."""
    onnx = b"an onnx file"
    for name, data in (("tiny.onnx", onnx), ("tiny.xml", GRAPH), ("tiny.bin", WEIGHTS)):
        (folder / name).write_bytes(data)
    return model_files.Model(
        "tiny", "Tiny", "ibp-tiny-model==1.0", "tiny.onnx", len(onnx),
        hashlib.md5(onnx, usedforsecurity=False).hexdigest(), hashlib.sha256(onnx).hexdigest(),
        ir=tuple((len(data), hashlib.sha256(data).hexdigest()) for data in (GRAPH, WEIGHTS)))


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    model = tiny_ir_model(tmp_path)
    monkeypatch.setattr(model_files, "MODELS", {"tiny": model})
    monkeypatch.setattr(model_files, "_VERIFIED", set())
    return tmp_path


def test_openvino_reads_the_ir_when_the_catalogue_knows_one_and_it_is_there(tiny):
    assert model_file(tiny, "tiny") == tiny / "tiny.xml"
    assert model_file(tiny, "tiny", "onnxruntime") == tiny / "tiny.onnx"
    (tiny / "tiny.xml").unlink()
    assert model_file(tiny, "tiny") == tiny / "tiny.onnx"


def test_a_graph_the_catalogue_does_not_know_is_never_read(tiny, monkeypatch):
    """It would be read unchecked: `check` verifies only what the catalogue has."""
    monkeypatch.setitem(model_files.MODELS, "tiny",
                        dataclasses.replace(model_files.MODELS["tiny"], ir=()))
    assert check(tiny, "tiny") is None
    assert model_file(tiny, "tiny") == tiny / "tiny.onnx"


def test_check_verifies_the_ir_beside_the_weights(tiny):
    assert check(tiny, "tiny") is None
    fix = f"Fetch it with `python -m scripts.models --dir {tiny} tiny`."
    (tiny / "tiny.bin").write_bytes(WEIGHTS[:-1] + b"!")
    assert check(tiny, "tiny") == (
        f"The tiny model (Tiny) cannot be used: {tiny}/tiny.bin has sha256 "
        f"{hashlib.sha256(WEIGHTS[:-1] + b'!').hexdigest()}, not "
        f"{hashlib.sha256(WEIGHTS).hexdigest()}: it is corrupt or another file. {fix}")
    # Without checksums, the sizes (the start-up's quick look).
    assert check(tiny, "tiny", checksums=False) is None
    (tiny / "tiny.bin").write_bytes(WEIGHTS[:100])
    assert check(tiny, "tiny", checksums=False) == (
        f"The tiny model (Tiny) cannot be used: {tiny}/tiny.bin has 100 bytes, not 2048: it is "
        f"not a complete copy of the file tiny.bin. {fix}")
    (tiny / "tiny.bin").unlink()
    assert check(tiny, "tiny") == (
        f"The tiny model (Tiny) cannot be used: {tiny}/tiny.bin is missing. {fix}")
    # No graph: the runtime reads the .onnx, and only that is checked.
    (tiny / "tiny.xml").unlink()
    assert check(tiny, "tiny") is None


def test_a_changed_ir_is_hashed_again_and_judged(tiny):
    assert check(tiny, "tiny") is None
    replacement = tiny / "new.xml"
    replacement.write_bytes(b"<net>another graph</net>")
    replacement.replace(tiny / "tiny.xml")
    assert "tiny.xml has 24 bytes, not 18" in check(tiny, "tiny")


# Writing it: the real openvino, on the real u2netp


@pytest.fixture
def onnx_only(tmp_path):
    """A models folder holding u2netp's verified .onnx and nothing else."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(model_path("u2netp"), folder / "u2netp.onnx")
    return folder


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_command_writes_the_catalogues_ir_and_then_leaves_it(onnx_only, capsys):
    args = ["--dir", str(onnx_only), "--no-cache", "u2netp"]
    assert models.main(args) == 0
    out, err = capsys.readouterr()
    assert out == f"u2netp: {onnx_only}/u2netp.xml is missing.\n"
    assert err == "u2netp: its IR written and verified.\n"
    assert listing(onnx_only) == ["u2netp.bin", "u2netp.onnx", "u2netp.xml"]  # no scratch
    for file in model_files.MODELS["u2netp"].derived:  # the same bytes as this machine's
        assert (onnx_only / file.name).read_bytes() == (MODELS_DIR / file.name).read_bytes()
        assert (onnx_only / file.name).stat().st_mode & 0o777 == 0o644
    assert check(onnx_only, "u2netp") is None

    written = (onnx_only / "u2netp.bin").stat().st_mtime_ns
    assert models.main(args) == 0
    assert capsys.readouterr() == (
        f"u2netp: {onnx_only}/u2netp.onnx is right, and so is its IR.\n", "")
    assert (onnx_only / "u2netp.bin").stat().st_mtime_ns == written

    (onnx_only / "u2netp.bin").write_bytes(b"damaged")
    assert models.main([*args, "--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"u2netp: {onnx_only}/u2netp.bin has 7 bytes, not 4501972: it is not a complete copy "
        "of the file u2netp.bin.",
        f"Fetch with `python -m scripts.models --dir {onnx_only} u2netp`."]
    assert models.main(args) == 0
    assert check(onnx_only, "u2netp") is None


def test_an_ir_other_than_the_catalogues_is_refused_and_not_moved_in(onnx_only, monkeypatch,
                                                                     capsys):
    """As when openvino is upgraded without the catalogue's checksums: nothing half-made is
    left, and the runtime goes on reading the .onnx."""
    real = model_files.MODELS["u2netp"]
    (graph, _), weights = real.ir
    monkeypatch.setattr(model_files, "MODELS", {"u2netp": dataclasses.replace(
        real, ir=((graph, "0" * 64), weights))})
    assert models.main(["--dir", str(onnx_only), "--no-cache"]) == 1
    written = hashlib.sha256((MODELS_DIR / "u2netp.xml").read_bytes()).hexdigest()
    assert re.fullmatch(
        r"error: Refused: openvino 2026\.4\.1\S* wrote another IR than the catalogue's, made by "
        r"the openvino requirements\.txt pins: " + re.escape(str(onnx_only))
        + rf"/\.u2netp\.ir-\w+/u2netp\.xml has sha256 {written}, not 0{{64}}: it is corrupt or "
        r"another file\.", capsys.readouterr().err.splitlines()[-1])
    assert listing(onnx_only) == ["u2netp.onnx"]


@pytest.fixture
def no_openvino(monkeypatch):
    find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else find_spec(name, *a))


def test_without_openvino_the_onnx_file_serves_alone(onnx_only, no_openvino, capsys):
    """The Dockerfile's build stage fetches before anything is installed; the app then
    checks the .onnx alone, as this command does."""
    for args in ([], ["--check"]):
        assert models.main(["--dir", str(onnx_only), "--no-cache", "u2netp", *args]) == 0
        assert capsys.readouterr() == (f"u2netp: {onnx_only}/u2netp.onnx is right.\n", "")
    assert listing(onnx_only) == ["u2netp.onnx"]
    assert check(onnx_only, "u2netp") is None


def test_without_openvino_a_wrong_ir_is_an_error_not_a_silence(onnx_only, no_openvino, capsys):
    (onnx_only / "u2netp.xml").write_bytes(b"<net/>")
    assert models.main(["--dir", str(onnx_only), "--no-cache", "u2netp"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"u2netp: {onnx_only}/u2netp.xml has 6 bytes, not 1167647")
    assert err == ("error: u2netp: its IR is wrong, and openvino is not installed here to write "
                   "it again: run this where it is.\n")


def test_the_ir_is_readable_by_others_whatever_the_umask(onnx_only):
    """The image's app user is not the user who wrote it."""
    before = os.umask(0o077)
    try:
        assert models.main(["--dir", str(onnx_only), "--no-cache", "u2netp"]) == 0
    finally:
        os.umask(before)
    for name in ("u2netp.xml", "u2netp.bin"):
        assert stat.S_IMODE((onnx_only / name).stat().st_mode) == 0o644


def test_a_folder_that_cannot_be_written_is_an_error_line(onnx_only, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(onnx_only))

    monkeypatch.setattr(models.tempfile, "TemporaryDirectory", refuse)
    assert models.main(["--dir", str(onnx_only), "--no-cache", "u2netp"]) == 1
    assert capsys.readouterr().err == f"error: [Errno 13] Permission denied: '{onnx_only}'\n"


# Reading it


def test_the_ir_makes_the_very_masks_of_the_onnx_with_its_weights_mapped(onnx_only):
    from_ir = LocalEngine(str(MODELS_DIR / "u2netp.xml"), "openvino", threads=1)
    from_onnx = LocalEngine(str(onnx_only / "u2netp.onnx"), "openvino", threads=1)
    for name in ("astronaut", "chelsea"):
        img = Image.fromarray(photo_array(name))
        assert np.array_equal(np.asarray(from_ir.predict(img)),
                              np.asarray(from_onnx.predict(img)))
    assert str(Path(MODELS_DIR).resolve() / "u2netp.bin") in mapped()


def mapped() -> set[str]:
    """The files this process has mapped."""
    return {line.split(maxsplit=5)[5] for line in Path("/proc/self/maps").read_text()
            .splitlines() if len(line.split(maxsplit=5)) == 6}


def test_the_app_reads_the_ir_its_start_up_checked_and_no_other(settings, onnx_only, caplog):
    """The file is chosen at start-up, with its check: an IR written into the folder after
    it is not read (nor checked) until the next start. Meanwhile the log says what the
    missing IR costs, and the command that writes it."""
    app = create_app(settings.changed(bg_models_dir=str(onnx_only), engine_concurrency=1,
                                      onnx_threads=1))
    assert [m for m in caplog.messages if "has no IR" in m] == [
        f"The u2netp model has no IR in {onnx_only}, so OpenVINO copies its weights into each "
        f"worker (168 MiB with u2net): `python -m scripts.models --dir {onnx_only} u2netp` "
        "writes it."]
    for name in ("u2netp.xml", "u2netp.bin"):
        shutil.copy(MODELS_DIR / name, onnx_only / name)
    app.extensions["services"].engines.primary.engine().predict(Image.new("RGB", (64, 48)))
    assert not {path for path in mapped() if path.startswith(str(onnx_only))}

    caplog.clear()
    app = create_app(settings.changed(bg_models_dir=str(onnx_only), engine_concurrency=1,
                                      onnx_threads=1))
    assert not [m for m in caplog.messages if "has no IR" in m]
    app.extensions["services"].engines.primary.engine().predict(Image.new("RGB", (64, 48)))
    assert str(onnx_only / "u2netp.bin") in mapped()
    assert type(app.extensions["services"].engines.primary.engine().model) is \
        runtimes.OpenVinoModel
