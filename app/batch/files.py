"""What a batch has to do and what it has done: the photos found in the sources (by their
first bytes, not their names), the output each one gets (the source tree mirrored), outputs
written whole or not at all, and an output already there and whole counting as done."""

from __future__ import annotations

import glob
import hashlib
import os
import secrets
import stat
import threading
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from app.core.errors import Rejected
from app.core.results import photo_of, refusals
from app.images.outputs import FILE_NAME_BYTES
from app.images.structure import JPEG_END, read_here

# A result is written under a temporary name in its own folder, then renamed over the
# output: a stopped run leaves either the whole output or a file of this suffix, never
# taken for an output and deleted when the run that stopped is started again.
PART = ".remove-bg-part"
NOT_REGULAR = "not a regular file (a FIFO, socket or device), not opened"


def is_regular(path: Path) -> bool:
    """Whether `path` is a regular file, or a symlink to one."""
    # Checked before any open: opening a FIFO for reading waits for a writer, forever if
    # none comes, and opening a device can have effects of its own (a tape rewinds).
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def is_photo(path: Path) -> bool:
    """Whether `path` is a regular file that starts as a JPEG, PNG or WebP file does,
    whatever its name; OSError if it cannot be read."""
    if not is_regular(path):
        return False
    with open(path, "rb") as file:
        head = file.read(12)
    return read_here(head)


def _unreadable(exc: OSError) -> str:
    return f"could not be read ({exc.strerror or exc})"


def not_a_photo(path: Path) -> str:
    """What the API answers a file that is empty or does not start as a JPEG, PNG or WebP
    file does, as a failure line says it (`code: sentence`), without sending it."""
    try:
        with open(path, "rb") as file, refusals("Upload"):
            photo_of(file.read(64), max_pixels=0)  # refused whatever it is: no pixel fits
    except OSError as exc:
        return _unreadable(exc)
    except Rejected as exc:
        return f"{exc.code}: {exc.message}"
    raise AssertionError("a photo of no pixels was taken")


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason), at once
    not_images: int = 0  # files in the folders that are not photos, left alone


def _walk(folder: Path, skip: Path, unread: list[tuple[str, str]]) -> Iterator[Path]:
    """The files under `folder`, in a stable order, without the output folder `skip` and
    the temporary files of stopped runs; a folder that cannot be listed goes in `unread`
    (os.walk would pass over it without a word). A link to a folder is followed, as a
    link to a file is, and each folder is walked once: a link back up the tree, or to a
    folder walked already, is passed over."""
    def failed(exc: OSError) -> None:
        unread.append((str(exc.filename or folder), _unreadable(exc)))

    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(folder, onerror=failed, followlinks=True):
        try:
            there = os.stat(top)
        except OSError as exc:
            failed(exc)
            dirs[:] = []
            continue
        if (there.st_dev, there.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((there.st_dev, there.st_ino))
        dirs[:] = sorted(d for d in dirs if (Path(top) / d).resolve() != skip)
        for name in sorted(files):
            if not name.endswith(PART):
                yield Path(top) / name


def plan(sources: Iterable[Path], out: Path, suffix: str) -> Plan:
    """The photos of `sources` (files, and folders walked through) and their outputs under
    `out`: a folder's tree is mirrored, a file lands in `out` itself, named as its photo
    with `suffix`. Two photos that would make the same output: the second is refused; an
    output where a photo of the batch is (cat.png beside cat.jpg, with --out their own
    folder) would be taken for done or written over that photo: refused, naming it."""
    found, skip = Plan(), out.resolve()
    candidates: list[Job] = []
    for source in sources:
        if source.is_dir():
            for path in _walk(source, skip, found.refused):
                try:
                    photo = is_photo(path)
                except OSError as exc:
                    found.refused.append((str(path), _unreadable(exc)))
                    continue
                if photo:
                    target = out / path.relative_to(source).with_suffix(suffix)
                    candidates.append(Job(path, target))
                else:
                    found.not_images += 1
        elif not is_regular(source):
            found.refused.append((str(source), NOT_REGULAR))
        elif _photo_or_refused(source, found):
            candidates.append(Job(source, out / (source.stem + suffix)))
    # Each path resolved once (a system call each): (job, its photo's, its output's).
    resolved = [(job, job.source.resolve(), job.target.resolve()) for job in candidates]
    photos = {source: job.source for job, source, _ in reversed(resolved)}  # the first name
    owners: dict[Path, tuple[Job, Path]] = {}
    for job, source, target in resolved:
        there = photos.get(target)
        if there is not None:
            found.refused.append((str(job.source), f"its output {job.target} would be "
                                                  + ("the photo itself" if target == source
                                                     else f"the photo {there}")))
            continue
        first, first_source = owners.setdefault(target, (job, source))
        if first is job:
            found.jobs.append(job)
        elif first_source != source:  # the same file named twice: made once
            found.refused.append((str(job.source), f"its output {job.target} is also the "
                                                  f"output of {first.source}"))
    return found


def _photo_or_refused(source: Path, found: Plan) -> bool:
    """Whether the file `source` is a photo; if not, its refusal noted in `found`."""
    try:
        if is_photo(source):
            return True
        reason = not_a_photo(source)
    except OSError as exc:
        reason = _unreadable(exc)
    found.refused.append((str(source), reason))
    return False


def is_done(target: Path) -> bool:
    """Whether `target` is there and whole: an image that Pillow verifies, or a zip whose
    every member reads back with its checksum."""
    if not is_regular(target):  # a FIFO where the output goes would hang the check
        return False
    try:
        if target.suffix == ".zip":
            with zipfile.ZipFile(target) as archive:
                return bool(archive.namelist()) and archive.testzip() is None
        with Image.open(target) as image:
            image.verify()
            if image.format == "JPEG":  # whose verify() reads no further than its header
                with open(target, "rb") as file:
                    file.seek(-2, os.SEEK_END)
                    return file.read() == JPEG_END
    except Exception:  # missing, unreadable, truncated, not an image: not done
        return False
    return True


# The random part of a temporary name: _new_file's hex digits, or the 8 letters, digits or
# underscores of mkstemp's (which the command used before 2026-12-04). Matched exactly, so
# that sweeping `a.png` never takes `.a.png.png.<random>.remove-bg-part`, which `a.png.jpg`'s
# output may be writing at that moment.
_HEX_DIGITS = 12
_RANDOM_PARTS = ("[0-9a-f]" * _HEX_DIGITS, "[a-z0-9_]" * 8)


def _part_prefix(target: Path) -> str:
    """How `target`'s temporary names start: `.<its name>.`; where that leaves too little
    room for the random part and PART (an output's name over 226 bytes), its name cut
    short and told apart from the others cut alike by a digest of it."""
    name = os.fsencode(target.name)
    room = FILE_NAME_BYTES - len(PART) - _HEX_DIGITS - 2
    if len(name) <= room:
        return f".{target.name}."
    digest = hashlib.sha256(name).hexdigest()[:16]
    return f".{name[:room - len(digest) - 1].decode('utf-8', 'ignore')}~{digest}."


def sweep(target: Path) -> None:
    """Delete what runs stopped while writing `target` left behind."""
    for random_part in _RANDOM_PARTS:
        for stale in target.parent.glob(f"{glob.escape(_part_prefix(target))}{random_part}"
                                        f"{PART}"):
            with suppress(OSError):
                stale.unlink()


def _new_file(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A file of a new random name, opened for writing, made as any program makes one
    (0666 less the umask, or what the folder's default ACL says): mkstemp's would stay
    0600, and so would the output it is renamed to."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):  # 48 random bits: a clash is a sign of something else wrong
        name = str(folder / f"{prefix}{secrets.token_hex(_HEX_DIGITS // 2)}{suffix}")
        with suppress(FileExistsError):
            return os.open(name, flags, 0o666), name
    raise FileExistsError(f"no free temporary name in {folder}")


class Writer:
    """Writes outputs whole or not at all. `abandon()` (on Ctrl+C) deletes the files being
    written at that moment and refuses any more, so nothing half-written is left."""

    def __init__(self):
        self._lock, self._open, self._closed = threading.Lock(), set(), False

    def write(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._closed:
                raise InterruptedError("the run was stopped")
            handle, name = _new_file(target.parent, _part_prefix(target), PART)
            self._open.add(name)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            with self._lock:
                if self._closed:
                    raise InterruptedError("the run was stopped")
                os.replace(name, target)
        finally:
            with self._lock:
                self._open.discard(name)
            with suppress(OSError):
                os.unlink(name)  # already renamed, unless something went wrong

    def abandon(self) -> None:
        with self._lock:
            self._closed = True
            for name in self._open:
                with suppress(OSError):
                    os.unlink(name)
