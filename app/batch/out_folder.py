"""The folder a run writes into: made if missing, tried as the run will write, held by one
run at a time, and taken away again if the run leaves it as it found it."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import click

from app.batch.files import PART

# In the folder itself, so every run that writes there finds it, whatever path it was given
# (a link, `a/../a`) and from whichever host shares the folder; there only while a run is.
LOCK = ".remove-bg.lock"


@contextmanager
def held(out: Path) -> Iterator[None]:
    """`out`, ready for this run alone: a `click.UsageError` if it cannot be written (with
    the system's reason: a permission, a read-only file system, a file in its path), a
    `click.ClickException` if another run is writing into it. The folders made for it are
    taken away at the end if the run wrote nothing in them."""
    real = out.resolve()  # a link to a folder yet to be made: made where it points
    made = _make(real, out)
    try:
        fd = _lock(real / LOCK, out)
        try:
            yield
        finally:
            if fd is not None:
                with suppress(OSError):
                    os.unlink(real / LOCK)  # before it is let go: see _lock
                os.close(fd)
    finally:
        for folder in reversed(made):
            with suppress(OSError):  # not empty: the run wrote there
                folder.rmdir()


def _make(real: Path, shown: Path) -> list[Path]:
    """The folders made for `real`, from the top, once a file could be made in it."""
    missing, there = [], real
    while not there.exists() and there.parent != there:
        missing.append(there)
        there = there.parent
    made: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
        with tempfile.NamedTemporaryFile(dir=real, prefix=".", suffix=PART):
            pass
    except OSError as exc:
        for folder in reversed(made):
            folder.rmdir()
        raise click.UsageError(f"--out {shown} cannot be written "
                               f"({exc.strerror or exc}).") from None
    return made


def _lock(path: Path, shown: Path) -> int | None:
    """A lock on the file at `path`, held until its descriptor is closed (also when the
    process is killed): two runs into one folder each skip only what is already whole, and
    made 18 of 29 photos twice, spending a key's rate twice. None where the file system
    cannot lock (some network ones): the run goes on, and says so."""
    while True:
        try:  # never through a link: the file is emptied and written below
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise click.UsageError(f"--out {shown} cannot be written ({exc.strerror or exc}: "
                                   f"{LOCK}).") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 20, 0).decode(errors="replace").strip()
            os.close(fd)
            raise click.ClickException(
                f"Another run{f' (process {holder})' if holder.isdigit() else ''} is writing "
                f"into {shown}: wait for it to end, or give another --out.") from None
        except OSError as exc:  # no lock can be held here, by this run or another
            os.close(fd)
            with suppress(OSError):
                os.unlink(path)
            click.echo(f"--out {shown} cannot be locked here ({exc.strerror or exc}): make "
                       "sure no other run writes into it meanwhile.", err=True)
            return None
        # The run before may have let go of it and deleted it between the open and the
        # lock: this one is then held on a file no other run can find. Again, on the new.
        try:
            current = os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            with suppress(OSError):  # who holds it, for the message above
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)
