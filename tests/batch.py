"""The batch command's tests' shared parts: a folder of photos as people keep them, the
command run in-process, and what it printed and wrote."""

import re
from pathlib import Path

from tests.support import photo

DAMAGED = ("The image file is damaged or incomplete. Please upload a whole JPEG, PNG or WebP "
           "image.")


def tree(root: Path) -> Path:
    """A folder of photos as people keep them: nested, one PNG without an extension, a text
    file, and a text file named .jpg (a damaged photo is added by the tests that need one)."""
    src = root / "src"
    (src / "trip" / "day 2").mkdir(parents=True)
    (src / "a.jpg").write_bytes(photo(size=(320, 240)))
    (src / "trip" / "b.webp").write_bytes(photo("astronaut", "WEBP", size=(200, 200)))
    (src / "trip" / "day 2" / "c").write_bytes(photo("coffee", "PNG", size=(300, 200)))
    (src / "notes.txt").write_text("not a photo")
    (src / "trip" / "fake.jpg").write_text("not a photo either")
    return src


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["remove-bg", *map(str, args), "--no-progress"])


SUMMARY = re.compile(r"(Done|Stopped) in [0-9.]+ s: made ([0-9]+) \([0-9.]+ photos/s\), "
                     r"skipped ([0-9]+) already made, failed ([0-9]+)\.")


def tally(result) -> tuple[int, int, int]:
    """(made, skipped, failed) from the summary's first line, which must be whole."""
    found = SUMMARY.fullmatch(result.stdout.splitlines()[0])
    assert found, result.stdout
    return tuple(int(n) for n in found.groups()[1:])


def outputs(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
