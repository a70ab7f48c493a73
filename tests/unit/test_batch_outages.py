"""What an operator's runs of flask remove-bg met (helper 73): a server gone for good is one
outage waited for once, said on stderr; an empty key is not a run without one; two runs
into one folder are one too many."""

import errno
import io
import os
import threading
import time
from types import SimpleNamespace

import pytest

from app.batch import out_folder
from app.batch import runner as runner_module
from app.batch.files import plan
from app.batch.out_folder import LOCK
from app.batch.runner import Runner
from app.batch.senders import Wait
from tests.batch import FakeServer, invoke, outputs, tally
from tests.support import photo

DOWN = "the server could not be reached (ConnectionError)"


@pytest.fixture
def clock(monkeypatch):
    """The runner's clock, moved on by its pauses only: a run of outages in no time."""
    now = [0.0]
    monkeypatch.setattr(runner_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: now.__setitem__(
        0, now[0] + seconds))
    return now


def photos(folder, count: int):
    folder.mkdir()
    for index in range(count):
        (folder / f"p{index}.jpg").write_bytes(photo(size=(64, 48)))
    return folder


def down_then_made(times: int, step: float):
    """A send that finds the server gone `times` times, waiting `step` s each, then makes."""
    left = [times]

    def send(data, name):
        if left[0]:
            left[0] -= 1
            raise Wait(step, DOWN, down=True)
        return b"made"

    return send


def run(runner: Runner, source, out, capsys):
    tally = runner.run(plan([source], out, ".png"))
    return tally, capsys.readouterr().err.splitlines()


def test_a_server_gone_is_waited_for_once_for_all_photos(tmp_path, clock, capsys):
    """Each photo waited its own --max-wait: 32 photos, four at a time, took 403 s to give
    up at 60 s, with nothing said meanwhile. Now the outage is one clock: the first photo
    waits it out, and each photo after is tried once."""
    sends = []

    def send(data, name):
        sends.append((clock[0], name))
        raise Wait(2.0, DOWN, down=True)

    runner = Runner(send, threads=1, max_wait=10, progress=False)
    tally, said = run(runner, photos(tmp_path / "src", 6), tmp_path / "out", capsys)
    # The first photo at 0, 2, 4, 6, 8 and 10 s (at 10, 2 s more would pass 10), then the
    # five others once each.
    assert [at for at, _ in sends] == [0, 2, 4, 6, 8, 10, 10, 10, 10, 10, 10]
    assert len({name for _, name in sends}) == 6 and tally.made == 0
    assert [reason for _, reason in tally.failed] == [
        f"{DOWN} (gave up: the server has not answered for --max-wait, 10 s)"] * 6
    assert said == [
        "The server could not be reached (ConnectionError): waiting for it, up to --max-wait "
        "(10 s).",
        "Gave up waiting for the server after 10 s: each photo left is tried once."]


def test_a_server_back_before_max_wait_is_said_and_the_photos_made(tmp_path, clock, capsys):
    runner = Runner(down_then_made(3, 2.0), threads=1, max_wait=10, progress=False)
    tally, said = run(runner, photos(tmp_path / "src", 3), tmp_path / "out", capsys)
    assert (tally.made, tally.failed) == (3, [])
    assert said == ["The server could not be reached (ConnectionError): waiting for it, up "
                    "to --max-wait (10 s).", "The server answers again."]
    assert outputs(tmp_path / "out") == ["p0.png", "p1.png", "p2.png"]


def test_a_wait_before_sending_does_not_end_the_outage(tmp_path, clock, capsys):
    """A photo held back for the key's minute (`sent=False`) asked the server nothing: the
    outage goes on, said once, on its own --max-wait (helper 92 saw it said over)."""
    answers = [Wait(2.0, DOWN, down=True), Wait(3.0, "no room", sent=False),
               Wait(2.0, DOWN, down=True)]

    def send(data, name):
        if answers:
            raise answers.pop(0)
        return b"made"

    runner = Runner(send, threads=1, max_wait=10, progress=False)
    tally, said = run(runner, photos(tmp_path / "src", 1), tmp_path / "out", capsys)
    assert (tally.made, tally.failed, clock[0]) == (1, [], 7.0)
    assert said == ["The server could not be reached (ConnectionError): waiting for it, up "
                    "to --max-wait (10 s).", "The server answers again."]


def test_the_outage_is_waited_to_max_wait_not_to_the_step_before_it(tmp_path, clock, capsys):
    """A step of 8 s from 8 s on would pass 10: the last wait is cut to what is left (the
    run gave up at 6 s of a --max-wait of 10, a thread's next step being 8)."""
    sends = []

    def send(data, name):
        sends.append(clock[0])
        raise Wait(8.0, DOWN, down=True)

    runner = Runner(send, threads=1, max_wait=10, progress=False)
    tally, said = run(runner, photos(tmp_path / "src", 1), tmp_path / "out", capsys)
    assert sends == [0, 8, 10] and len(tally.failed) == 1
    assert said[-1] == "Gave up waiting for the server after 10 s: each photo left is tried once."


def test_an_answer_to_a_photo_sent_before_the_outage_does_not_end_it(tmp_path, clock, capsys,
                                                                      monkeypatch):
    """A server going down finishes what it has: that answer is no sign it is back (it
    said "answers again" and started the clock over, so a run could wait past --max-wait)."""
    release, written = threading.Event(), threading.Event()
    answers = {"p1.jpg": ["down", "down", "made"]}

    def send(data, name):
        if name == "p0.jpg":  # sent at 0, before the outage; answered once it began
            assert release.wait(10)
            return b"made"
        if answers[name].pop(0) == "down":
            raise Wait(2.0, DOWN, down=True)
        return b"made"

    runner = Runner(send, threads=2, max_wait=10, progress=False)
    write = runner.writer.write
    monkeypatch.setattr(runner.writer, "write", lambda target, data: (
        write(target, data), target.name == "p0.png" and written.set()))

    def pause(self, seconds):
        release.set()
        assert written.wait(10)
        clock[0] += seconds

    monkeypatch.setattr(Runner, "pause", pause)
    source = photos(tmp_path / "src", 2)
    clock[0] = -1.0  # p0 leaves first; p1 meets the outage at 0
    real_send = send

    def timed(data, name):
        if name == "p1.jpg" and clock[0] < 0:
            clock[0] = 0.0
        return real_send(data, name)

    runner.send = timed
    tally, said = run(runner, source, tmp_path / "out", capsys)
    assert (tally.made, tally.failed) == (2, [])
    assert said == ["The server could not be reached (ConnectionError): waiting for it, up "
                    "to --max-wait (10 s).", "The server answers again."]


def test_a_busy_server_is_waited_per_photo_as_before(tmp_path, clock, capsys):
    """Busy (503, 429) is a photo's own wait: the server answers, so it is no outage."""
    def send(data, name):
        raise Wait(4.0, "503 busy: The server is busy.")

    runner = Runner(send, threads=1, max_wait=10, progress=False)
    tally, said = run(runner, photos(tmp_path / "src", 2), tmp_path / "out", capsys)
    assert len(tally.failed) == 2 and said == []
    assert clock[0] == 16  # each photo waited 4 + 4 s of its own: 12 would pass 10


def test_the_outage_is_said_off_the_progress_bars_line(tmp_path, clock, monkeypatch):
    """On a terminal, the sentence has a line of its own, and the bar is drawn again after."""
    err = io.StringIO()
    err.isatty = lambda: True
    monkeypatch.setattr(runner_module.sys, "stderr", err)
    moved = Runner.pause
    monkeypatch.setattr(Runner, "pause", lambda self, seconds: (time.sleep(0.5),
                                                                 moved(self, seconds)))
    Runner(down_then_made(1, 1.0), threads=1, max_wait=10, progress=True).run(
        plan([photos(tmp_path / "src", 1)], tmp_path / "out", ".png"))
    lines = err.getvalue().split("\n")
    waiting = lines.index("The server could not be reached (ConnectionError): waiting for it, "
                          "up to --max-wait (10 s).")
    assert "Removing backgrounds" in lines[waiting - 1] and "1/1" not in lines[waiting - 1]
    assert "1/1" in lines[waiting + 1]
    assert "The server answers again." in lines[waiting + 1:]


@pytest.mark.parametrize("how", ["option", "variable"])
def test_an_empty_key_is_refused_not_taken_for_none(app, fake_engine, tmp_path, how):
    """`--key "$KEY"` with KEY unset, or REMOVE_BG_API_KEY set to nothing, ran as a visitor,
    under the visitors' limits, saying nothing."""
    server = FakeServer([])
    (tmp_path / "a.jpg").write_bytes(photo(size=(64, 48)))
    args = ["remove-bg", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"),
            "--server", server.base, "--no-progress"]
    try:
        result = app.test_cli_runner().invoke(
            args=args + (["--key", ""] if how == "option" else []),
            env={"REMOVE_BG_API_KEY": ""} if how == "variable" else {})
    finally:
        server.server.shutdown()
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: The key is empty (--key, or REMOVE_BG_API_KEY): give the server's key, or "
        "leave both out to send as a visitor.")
    assert server.requests == [] and not (tmp_path / "out").exists()


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(app, fake_engine,
                                                                           tmp_path,
                                                                           monkeypatch):
    """Two runs into one folder made 18 of 29 photos twice, and spent a key's rate twice."""
    source = photos(tmp_path / "src", 2)
    inside, release = threading.Event(), threading.Event()
    real = Runner.run

    def slow_run(self, jobs):
        inside.set()
        release.wait(30)
        return real(self, jobs)

    monkeypatch.setattr(Runner, "run", slow_run)
    first = {}
    thread = threading.Thread(target=lambda: first.update(
        result=invoke(app, source, "--out", tmp_path / "out")))
    thread.start()
    try:
        assert inside.wait(30)
        monkeypatch.setattr(Runner, "run", real)
        (tmp_path / "link").symlink_to(tmp_path)
        same = tmp_path / "link" / "out"  # the same folder, by another path
        second = invoke(app, source, "--out", same)
        assert second.exit_code == 1, second.output
        assert second.stderr.splitlines()[-1] == (
            f"Error: Another run (process {os.getpid()}) is writing into {same}: wait for it "
            "to end, or give another --out.")
        assert invoke(app, source, "--out", tmp_path / "new" / ".." / "new").exit_code == 0
        other = invoke(app, source, "--out", tmp_path / "elsewhere")  # another folder: fine
        assert other.exit_code == 0 and tally(other) == (2, 0, 0)
    finally:
        release.set()
        thread.join(60)
    assert first["result"].exit_code == 0 and tally(first["result"]) == (2, 0, 0)
    again = invoke(app, source, "--out", tmp_path / "out")  # the lock went with its run
    assert again.exit_code == 0 and tally(again) == (0, 2, 0)


def test_the_lock_is_in_the_folder_only_while_a_run_writes_there(app, fake_engine, tmp_path,
                                                                  monkeypatch):
    source = photos(tmp_path / "src", 1)
    seen = []
    real = Runner.run
    monkeypatch.setattr(Runner, "run", lambda self, jobs: (
        seen.append(sorted(p.name for p in (tmp_path / "out").iterdir())), real(self, jobs))[1])
    result = invoke(app, source, "--out", tmp_path / "out")
    assert result.exit_code == 0 and seen == [[LOCK]]
    assert outputs(tmp_path / "out") == ["p0.png"]  # the lock gone with its run
    # A run that makes nothing leaves no folder it made behind.
    (tmp_path / "src" / "p0.jpg").write_text("not a photo")
    (tmp_path / "src" / "p0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = invoke(app, source, "--out", tmp_path / "new" / "deeper")
    assert result.exit_code == 1 and not (tmp_path / "new").exists()


def test_a_lock_that_is_a_link_is_not_followed(app, fake_engine, tmp_path):
    """Whatever it points at was emptied and given the run's process number."""
    source = photos(tmp_path / "src", 1)
    victim = tmp_path / "victim.txt"
    victim.write_text("important")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK).symlink_to(victim)
    result = invoke(app, source, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: --out {tmp_path / 'out'} cannot be written (Too many levels of symbolic "
        f"links: {LOCK}).")
    assert victim.read_text() == "important"


def test_an_out_that_links_to_a_folder_yet_to_be_made_is_made_there(app, fake_engine,
                                                                   tmp_path):
    source = photos(tmp_path / "src", 1)
    (tmp_path / "link").symlink_to(tmp_path / "nowhere" / "deep")
    result = invoke(app, source, "--out", tmp_path / "link")
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path / "nowhere" / "deep") == ["p0.png"]


def test_where_nothing_can_be_locked_the_run_goes_on_and_says_so(app, fake_engine, tmp_path,
                                                                 monkeypatch):
    """Some network file systems refuse locks (ENOLCK): not a reason to refuse the run."""
    def refuse(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(out_folder.fcntl, "flock", refuse)
    result = invoke(app, photos(tmp_path / "src", 1), "--out", tmp_path / "out")
    assert result.exit_code == 0 and tally(result) == (1, 0, 0)
    assert result.stderr.splitlines()[0] == (
        f"--out {tmp_path / 'out'} cannot be locked here (No locks available): make sure no "
        "other run writes into it meanwhile.")
    assert outputs(tmp_path / "out") == ["p0.png"]
