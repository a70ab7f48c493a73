"""flask remove-bg in its own process, as an operator runs it, with the real model: stopped
by a signal while photos are in the model, and met with folders and files it may not read
or write (run without root's power to read and write anything, as most users run it)."""

import os
import signal
import subprocess
import time

import pytest

from tests.batch import SUMMARY
from tests.servers import BIN, ROOT, clean_env
from tests.support import photo

# Root as an ordinary user is: without the capabilities that let it read and write any file.
AS_A_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def command(*args, prefix=()):
    return subprocess.Popen(
        [*prefix, str(BIN / "flask"), "--app", "app", "remove-bg", *map(str, args),
         "--no-progress"], cwd=ROOT, env=clean_env(APP_SECRET_KEY="batch-process-secret-0123"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As from a terminal: a background job (CI's) starts with SIGINT ignored, and a
        # Python started so keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_run_stopped_while_photos_are_in_the_model_exits_130(tmp_path, stop):
    """It exited under OpenVINO's threads and aborted ("terminate called without an active
    exception", SIGABRT) in 9 of 15 tries (helper 64)."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(16):
        (src / f"p{i}.jpg").write_bytes(photo(["chelsea", "coffee"][i % 2], size=(2400, 1600)))
    run = command(src, "--out", out)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.png"))) < 3 and time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    run.send_signal(stop)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, (stdout, stderr)
    assert stdout.startswith("Stopped in "), stdout
    assert "terminate called" not in stderr
    assert [p.name for p in out.iterdir() if p.name.endswith(".remove-bg-part")] == []


@pytest.mark.parametrize("stops", [(signal.SIGINT, signal.SIGINT),
                                   (signal.SIGTERM, signal.SIGINT)])
def test_a_second_stop_ends_the_run_at_once_and_exits_130(tmp_path, stops):
    """A second Ctrl+C stopped the wait for the photos in the model, and the process then
    left under the model's threads and aborted: exit 134 (helper 103)."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(4):  # 24 MP with u2net and refined edges: seconds each in the model
        (src / f"p{i}.jpg").write_bytes(photo(["chelsea", "coffee"][i % 2], size=(6000, 4000)))
    run = command(src, "--out", out, "--model", "u2net", "--refine-edges")
    deadline = time.monotonic() + 300
    while not list(out.glob("*.png")) and time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    first, second = stops
    run.send_signal(first)
    time.sleep(0.5)
    run.send_signal(second)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, (stdout, stderr)
    assert stdout.startswith("Stopped in "), stdout
    assert "Ctrl+C again to stop now" in stderr  # the second came while the first waited
    assert "terminate called" not in stderr
    assert [p.name for p in out.iterdir() if p.name.endswith(".remove-bg-part")] == []

def test_what_cannot_be_read_fails_with_its_reason(tmp_path):
    """A folder that cannot be listed was passed over without a word, and a photo that
    cannot be read counted as a file that is no photo; the run said 0, done (helper 64)."""
    src = tmp_path / "src"
    (src / "ok").mkdir(parents=True)
    (src / "locked").mkdir()
    (src / "ok" / "cat.jpg").write_bytes(photo(size=(320, 240)))
    (src / "ok" / "secret.jpg").write_bytes(photo(size=(320, 240)))
    (src / "locked" / "a.jpg").write_bytes(photo(size=(320, 240)))
    (src / "ok" / "secret.jpg").chmod(0)
    (src / "locked").chmod(0)
    try:
        run = command(src, "--out", tmp_path / "out", prefix=AS_A_USER)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        (src / "locked").chmod(0o755)
    assert run.returncode == 1, (stdout, stderr)
    lines = stdout.splitlines()
    assert SUMMARY.fullmatch(lines[0]).groups()[1:] == ("1", "0", "2"), stdout
    assert lines[-2:] == [f"  {src / 'locked'}: could not be read (Permission denied)",
                          f"  {src / 'ok' / 'secret.jpg'}: could not be read (Permission "
                          "denied)"]


def test_an_output_folder_that_cannot_be_written_stops_the_run_first(tmp_path):
    """Each photo went through the model first, then failed to be written."""
    (tmp_path / "a.jpg").write_bytes(photo(size=(320, 240)))
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o555)
    run = command(tmp_path / "a.jpg", "--out", closed / "out", prefix=AS_A_USER)
    stdout, stderr = run.communicate(timeout=120)
    assert (run.returncode, stdout) == (2, "")
    assert stderr.splitlines()[-1] == (f"Error: --out {closed / 'out'} cannot be written "
                                       "(Permission denied).")
    assert not (closed / "out").exists()
    assert os.listdir(closed) == []
