"""flask remove-bg against a real server (`make serve`'s stack: nginx before gunicorn, the real
model), with an API key over 2 connections: killed half-way (SIGKILL) and started again,
nothing is half-written, nothing is lost and nothing is made twice."""

import os
import re
import signal
import subprocess
import time

import pytest
from PIL import Image

from tests.front import start_stack
from tests.servers import BIN, ROOT, clean_env, stop
from tests.support import photo

PHOTOS = 12
SIZE = (800, 600)


KEY = "batch-test-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base, _ = start_stack(tmp_path_factory.mktemp("serve"), API_KEYS=f"batch:{KEY}",
                                   API_REQUIRE_KEY="true")
    yield base
    stop(process)


def batch(src, out, base):
    """The command as an operator runs it, in its own process."""
    env = clean_env(APP_SECRET_KEY="batch-client-secret-0123456789")
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "app", "remove-bg", str(src), "--out", str(out),
         "--server", base, "--key", KEY, "--connections", "2", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def made(out):
    return sorted(p for p in out.rglob("*.png"))


def test_killed_half_way_and_resumed_nothing_lost_nothing_twice(server, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    for i in range(PHOTOS):
        folder = src / ("even" if i % 2 == 0 else "odd")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{i:02}.jpg").write_bytes(photo(["chelsea", "astronaut", "coffee"][i % 3],
                                                    size=SIZE))
    first = batch(src, out, server)
    deadline = time.monotonic() + 120
    while len(made(out)) < PHOTOS // 3 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in made(out)}
    assert PHOTOS // 3 <= len(before) < PHOTOS
    for path in before:  # what is there under an output's name is whole
        with Image.open(path) as image:
            image.load()

    second = batch(src, out, server)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, (stdout, stderr)
    summary = re.fullmatch(r"Done in [0-9.]+ s: made ([0-9]+) \([0-9.]+ photos/s\), skipped "
                           r"([0-9]+) already made, failed 0\.", stdout.strip())
    assert summary, stdout
    assert (int(summary[1]), int(summary[2])) == (PHOTOS - len(before), len(before))
    after = made(out)
    assert sorted(p.relative_to(out).as_posix() for p in after) == sorted(
        f"{'even' if i % 2 == 0 else 'odd'}/p{i:02}.png" for i in range(PHOTOS))
    for path in after:
        with Image.open(path) as image:
            image.load()
            assert (image.format, image.mode, image.size) == ("PNG", "RGBA", SIZE)
    # Those made before the kill were skipped, not made again; no temporary file is left.
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in before} == before
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(
        p.name for p in after)
