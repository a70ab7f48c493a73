"""What a script author's runs of flask remove-bg met (helper 64): a stop while a photo is in
the model, a key in the environment, long names, a cut JPEG output, and a server that
restarts as a session starts, cuts its answer short, or is not the app."""

import os
import signal
import threading
import time

import pytest
from PIL import Image

from app.batch import files, senders
from app.batch.files import PART, is_done, plan
from app.batch.runner import Runner
from app.images.outputs import FILE_NAME_BYTES
from tests.batch import FakeServer, invoke, outputs, tally
from tests.support import photo


@pytest.mark.parametrize("finish", [True, False])
def test_a_stop_lets_the_photos_in_the_model_finish_only_in_this_process(tmp_path, finish):
    """Exiting while OpenVINO's threads ran aborted the process (SIGABRT) in 9 of 15 tries:
    the run now waits for them. A server's answer is not waited for."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.jpg").write_bytes(photo(size=(64, 48)))
    started, finished = threading.Event(), threading.Event()

    def send(data, name):
        started.set()
        time.sleep(1.5)  # in the model while the run is stopped
        finished.set()
        return b""

    runner = Runner(send, threads=1, progress=False, finish_on_stop=finish)
    stopper = threading.Thread(target=lambda: started.wait(30) and _interrupt())
    # Python's own Ctrl+C handler, whatever this process inherited (a background job
    # starts with SIGINT ignored, and then a Ctrl+C does nothing).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stopper.start()
        tally = runner.run(plan([tmp_path], tmp_path / "out", ".png"))
        stopper.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert tally.interrupted and tally.made == 0
    assert finished.is_set() is finish
    assert not (tmp_path / "out").exists() or outputs(tmp_path / "out") == []


def _interrupt() -> None:
    """Ctrl+C, which the main thread meets in its wait for outcomes."""
    os.kill(os.getpid(), signal.SIGINT)


def test_a_key_in_the_environment_is_for_a_server_only(app, fake_engine, tmp_path):
    """REMOVE_BG_API_KEY set for the scripts that use --server refused every run in this
    process ("--key goes with --server")."""
    (tmp_path / "a.jpg").write_bytes(photo(size=(64, 48)))
    result = app.test_cli_runner().invoke(
        args=["remove-bg", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out"),
              "--no-progress"], env={"REMOVE_BG_API_KEY": "key-0123456789abcdef"})
    assert (result.exit_code, tally(result)) == (0, (1, 0, 0)), result.output
    given = invoke(app, tmp_path / "a.jpg", "--out", tmp_path / "out", "--key", "k")
    assert given.exit_code == 2 and "--key goes with --server." in given.stderr


@pytest.mark.parametrize("length", [226, 227, 251])
def test_an_output_of_a_long_name_is_written(app, fake_engine, tmp_path, length):
    """The temporary name was the output's and 29 bytes more: an output name of 227 to 255
    bytes failed after the model had run."""
    src = tmp_path / "src"
    src.mkdir()
    stems = ["é" * (length // 2 - 2) + "x" * (length % 2) + end for end in ("ab", "cd")]
    assert all(len((stem + ".png").encode()) == length + 2 for stem in stems)
    for stem in stems:
        (src / f"{stem}.jpg").write_bytes(photo(size=(64, 48)))
    result = invoke(app, src, "--out", tmp_path / "out", "--threads", "2")
    assert (result.exit_code, tally(result)) == (0, (2, 0, 0)), result.output
    assert outputs(tmp_path / "out") == sorted(f"{stem}.png" for stem in stems)
    # Each output's temporary names are its own: sweeping one never takes the other's.
    first, second = (tmp_path / "out" / f"{stem}.png" for stem in stems)
    prefixes = {files._part_prefix(first), files._part_prefix(second)}
    assert len(prefixes) == 2
    assert all(len(os.fsencode(prefix)) + files._HEX_DIGITS + len(PART) <= FILE_NAME_BYTES
               for prefix in prefixes)
    stale = first.parent / f"{files._part_prefix(first)}{'0' * files._HEX_DIGITS}{PART}"
    other = second.parent / f"{files._part_prefix(second)}{'0' * files._HEX_DIGITS}{PART}"
    stale.write_bytes(b"half")
    other.write_bytes(b"half")
    files.sweep(first)
    assert (stale.exists(), other.exists()) == (False, True)


def test_a_cut_jpeg_output_is_made_again(app, fake_engine, tmp_path):
    """Pillow's verify() reads a JPEG's header only: an output cut at 3,000 bytes was
    counted as already made."""
    (tmp_path / "a.jpg").write_bytes(photo(size=(320, 240)))
    out = tmp_path / "out"
    args = (tmp_path / "a.jpg", "--out", out, "--output", "color", "--format", "jpeg")
    assert tally(invoke(app, *args)) == (1, 0, 0)
    whole = (out / "a.jpg").read_bytes()
    assert is_done(out / "a.jpg") and len(whole) > 3000
    (out / "a.jpg").write_bytes(whole[:3000])
    assert not is_done(out / "a.jpg")
    assert tally(invoke(app, *args)) == (1, 0, 0)
    assert (out / "a.jpg").read_bytes() == whole
    assert tally(invoke(app, *args)) == (0, 1, 0)


@pytest.mark.parametrize("status", [502, 503])
def test_a_restart_as_a_session_starts_is_waited_out(app, fake_engine, tmp_path, status):
    """The connection lost, a new session met the front's 502 or 503 (the app
    restarting): the photo failed at once."""
    server = FakeServer([(0, {})], sessions=[None, (status, {"Retry-After": "1"})])
    _source, result = server.send_one(app, tmp_path)
    assert (result.exit_code, tally(result)) == (0, (1, 0, 0)), result.output
    assert [request[1:3] for request in server.requests] == [
        ("GET", "/api/v1/session"), ("POST", "/api/v1/remove"),  # lost
        ("GET", "/api/v1/session"),  # refused: waited out
        ("GET", "/api/v1/session"), ("POST", "/api/v1/remove")]


def test_an_answer_cut_short_is_a_lost_photo_sent_again(app, fake_engine, tmp_path):
    server = FakeServer([("cut", {})])
    _source, result = server.send_one(app, tmp_path)
    assert (result.exit_code, tally(result)) == (0, (1, 0, 0)), result.output
    assert len(server.posts()) == 2
    with Image.open(tmp_path / "out" / "cat.png") as image:
        assert image.size == (8, 8)


def test_a_server_that_never_answers_fails_the_photo_once(app, fake_engine, tmp_path,
                                                          monkeypatch):
    """As the front's 504: the server may still be making it. It was taken for a lost
    photo and sent five times, 300 s each (25 minutes for one photo)."""
    monkeypatch.setattr(senders, "TIMEOUT", (5, 0.5))
    server = FakeServer([("hang", {}), (200, {})], hang=1.5)
    source, result = server.send_one(app, tmp_path)
    assert (result.exit_code, tally(result)) == (1, (0, 0, 1)), result.output
    assert len(server.posts()) == 1
    assert result.stdout.splitlines()[-1] == (
        f"  {source}: the server did not answer within 0.5 s (it may still be making this "
        "photo, so it is not sent again)")


def three_photos(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / f"{name}.jpg").write_bytes(photo(size=(64, 48)))
    return src


def test_after_a_photo_that_is_never_answered_a_silent_server_is_an_outage(
        app, fake_engine, tmp_path, monkeypatch):
    """A server that takes connections and never answers held each photo for the read
    timeout (300 s each: helper 85). After the first, /health is asked before the next
    photo: unanswered, it is an outage, bounded by --max-wait, and then each photo left
    costs one short question, not a send."""
    monkeypatch.setattr(senders, "TIMEOUT", (5, 0.5))
    monkeypatch.setattr(senders, "PROBE_TIMEOUT", (5, 0.3))
    server = FakeServer([("hang", {})] * 3, hang=1.0, health_hangs=True)
    src = three_photos(tmp_path)
    result = invoke(app, src, "--out", tmp_path / "out", "--server", server.base,
                    "--max-wait", "1", "--connections", "1")
    server.server.shutdown()
    assert (result.exit_code, tally(result)) == (1, (0, 0, 3)), result.output
    assert len(server.posts()) == 1  # the other two photos were never sent
    assert sum(1 for r in server.requests if r[2] == "/health") >= 2
    said = f"the server did not answer {server.base}/health after a photo's answer never " \
           "came (ReadTimeout)"
    assert f"{said[0].upper()}{said[1:]}: waiting for it, up to --max-wait (1 s)." in result.stderr
    assert "Gave up waiting for the server after" in result.stderr
    failures = result.stdout.splitlines()[-3:]
    assert sum("the server did not answer within 0.5 s" in line for line in failures) == 1
    assert sum(line.endswith(f"{said} (gave up: the server has not answered for --max-wait, "
                             "1 s)") for line in failures) == 2


def test_a_server_that_answers_its_health_gets_the_next_photos(app, fake_engine, tmp_path,
                                                               monkeypatch):
    """A photo that outlived the read timeout on a server that is there (a long line, a
    huge photo): the next photos are sent as usual once /health answers."""
    monkeypatch.setattr(senders, "TIMEOUT", (5, 0.5))
    server = FakeServer([("hang", {}), (200, {}), (200, {})], hang=1.0)
    src = three_photos(tmp_path)
    result = invoke(app, src, "--out", tmp_path / "out", "--server", server.base,
                    "--connections", "1")
    server.server.shutdown()
    assert (result.exit_code, tally(result)) == (1, (2, 0, 1)), result.output
    assert len(server.posts()) == 3
    assert [r[2] for r in server.requests].count("/health") == 1
    assert "waiting for it" not in result.stderr


def test_a_page_answered_200_is_no_result(app, fake_engine, tmp_path):
    """A proxy's sign-in page, or a wrong --server: 23 bytes of HTML were written as the
    cutout and counted as made."""
    server = FakeServer([("page", {})])
    source, result = server.send_one(app, tmp_path)
    assert (result.exit_code, tally(result)) == (1, (0, 0, 1))
    assert result.stdout.splitlines()[-1] == (
        f"  {source}: /api/v1/remove answered 200 with text/html, not an image: is --server "
        "this app's address?")
    assert not (tmp_path / "out").exists() or outputs(tmp_path / "out") == []


def test_a_name_that_is_not_utf8_is_sent(app, fake_engine, tmp_path):
    """Its bytes cannot go in a form's header as they are: the photo failed with a
    UnicodeEncodeError, and was made in this process."""
    server = FakeServer([])
    name = os.fsdecode(b"bad\xffname.jpg")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / name).write_bytes(photo(size=(64, 48)))
    result = invoke(app, tmp_path / "src", "--out", tmp_path / "out", "--server", server.base)
    server.server.shutdown()
    assert (result.exit_code, tally(result)) == (0, (1, 0, 0)), result.output
    assert outputs(tmp_path / "out") == [os.fsdecode(b"bad\xffname.png")]
    assert b'filename="bad\xef\xbf\xbdname.jpg"' in server.bodies[0]
