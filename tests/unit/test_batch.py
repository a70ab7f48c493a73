"""flask remove-bg: folders in, cutouts out, through the core in this process; resumable,
nothing half-written, every failure with its reason. Through a server: test_batch_server.py."""

import io
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Literal, get_args

import click
import pytest
from PIL import Image

from app.batch import files
from app.batch.files import PART, Writer, plan
from app.batch.options import chosen, output_options
from app.batch.runner import Runner
from app.core.removal import RemoveRequest
from tests.batch import DAMAGED, invoke, outputs, tally, tree
from tests.support import FakeEngine, photo, use_engine


def test_a_tree_is_mirrored_by_the_real_model_and_what_is_not_a_photo_is_left_alone(app,
                                                                                   tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    result = invoke(app, src, "--out", out)
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["a.png", "trip/b.png", "trip/day 2/c.png"]
    for name, size in [("a.png", (320, 240)), ("trip/b.png", (200, 200)),
                       ("trip/day 2/c.png", (300, 200))]:
        with Image.open(out / name) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGBA", size)
    with Image.open(out / "a.png") as cat:  # the cat is kept, the wall behind it is not
        alpha = cat.getchannel("A")
        assert alpha.getpixel((160, 150)) > 200 and alpha.getpixel((5, 5)) < 50
    lines = result.stdout.splitlines()
    assert tally(result) == (3, 0, 0)
    assert lines[1:] == ["Left alone 2 file(s) that are not JPEG, PNG or WebP images."]


def test_links_to_folders_are_followed_and_each_folder_walked_once(app, fake_engine, tmp_path):
    """A folder linked into the tree was passed over without a word, while a link to a
    photo was made. A link back up the tree, or to a folder walked already, is not walked
    again (each photo is made once)."""
    src, out = tree(tmp_path), tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "d.jpg").write_bytes(photo("rocket", size=(64, 48)))
    (src / "album").symlink_to(elsewhere)
    (src / "trip" / "loop").symlink_to(src)
    (src / "trip2").symlink_to(src / "trip" / "day 2")  # walked in trip, before trip2
    result = invoke(app, src, "--out", out)
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["a.png", "album/d.png", "trip/b.png", "trip/day 2/c.png"]
    assert tally(result) == (4, 0, 0) and fake_engine.calls == 4
    assert result.stdout.splitlines()[1:] == [
        "Left alone 2 file(s) that are not JPEG, PNG or WebP images."]


def test_a_damaged_photo_fails_with_its_reason_and_the_run_goes_on(app, fake_engine, tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    (src / "trip" / "broken.jpg").write_bytes(photo()[:2000])
    result = invoke(app, src, "--out", out)
    assert result.exit_code == 1
    assert outputs(out) == ["a.png", "trip/b.png", "trip/day 2/c.png"]
    assert result.stdout.splitlines()[-3:] == [
        "Left alone 2 file(s) that are not JPEG, PNG or WebP images.", "Failed:",
        f"  {src / 'trip' / 'broken.jpg'}: invalid_image: {DAMAGED}"]
    assert tally(result) == (3, 0, 1)


def test_a_file_named_that_is_not_a_photo_fails_as_the_api_answers_it(app, fake_engine,
                                                                      tmp_path):
    """Named, it is a failure (in a folder it would be left alone), with the API's code and
    sentence for it, as any failure line; it is not sent."""
    text, empty = tmp_path / "cat.jpg", tmp_path / "dog.png"
    text.write_text("hello")
    empty.write_bytes(b"")
    result = invoke(app, text, empty, "--out", tmp_path / "out")
    assert result.exit_code == 1 and fake_engine.calls == 0
    assert result.stdout.splitlines()[-2:] == [
        f"  {text}: invalid_image: That file is not an image we can read. Please upload a "
        "JPEG, PNG or WebP image.",
        f"  {empty}: invalid_image: The file is empty. Please choose a photo to upload."]


def test_a_run_again_skips_what_is_whole_and_remakes_the_rest(app, fake_engine, tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    assert invoke(app, src, "--out", out).exit_code == 0
    assert fake_engine.calls == 3
    made = {name: (out / name).stat().st_mtime_ns for name in outputs(out)}
    again = invoke(app, src, "--out", out)
    assert again.exit_code == 0 and fake_engine.calls == 3  # nothing made twice
    assert tally(again) == (0, 3, 0)
    assert {name: (out / name).stat().st_mtime_ns for name in outputs(out)} == made
    # An output cut short (written by something else, or a disk that filled up) is remade.
    whole = (out / "trip" / "b.png").read_bytes()
    (out / "trip" / "b.png").write_bytes(whole[: len(whole) // 2])
    third = invoke(app, src, "--out", out)
    assert third.exit_code == 0 and fake_engine.calls == 4
    assert tally(third) == (1, 2, 0)
    with Image.open(out / "trip" / "b.png") as image:
        image.verify()


def test_a_half_written_temporary_file_is_never_taken_as_done(app, fake_engine, tmp_path):
    src, out = tree(tmp_path), tmp_path / "out"
    out.mkdir()
    # What a SIGKILL mid-write leaves: this command's temporary name, and mkstemp's that the
    # command used before.
    for random_part in ("0123456789ab", "k3j2_x9z"):
        (out / f".a.png.{random_part}{PART}").write_bytes(b"\x89PNG\r\n\x1a\n half")
    result = invoke(app, src, "--out", out)
    assert result.exit_code == 0 and fake_engine.calls == 3
    assert outputs(out) == ["a.png", "trip/b.png", "trip/day 2/c.png"]  # the parts are gone


def test_a_sweep_takes_only_its_own_outputs_temporary_files(tmp_path):
    """`a.jpg` and `a.png.jpg` make `a.png` and `a.png.png`: sweeping the first, while
    another thread writes the second, must leave the second's temporary file alone."""
    own, old = tmp_path / f".a.png.0123456789ab{PART}", tmp_path / f".a.png.k3j2_x9z{PART}"
    others = [tmp_path / f".a.png.png.0123456789ab{PART}", tmp_path / f".a.png.png.k3j2{PART}",
              tmp_path / f".a.png.x.png.0123456789ab{PART}"]
    for path in (own, old, *others):
        path.write_bytes(b"part")
    files.sweep(tmp_path / "a.png")
    assert sorted(tmp_path.iterdir()) == sorted(others)


def test_the_output_folder_inside_the_source_is_not_walked(app, fake_engine, tmp_path):
    src = tree(tmp_path)
    assert invoke(app, src, "--out", src / "cutouts").exit_code == 0
    again = invoke(app, src, "--out", src / "cutouts")
    assert tally(again) == (0, 3, 0) and fake_engine.calls == 3


@pytest.mark.parametrize("out", [".", "trip/.."])
def test_the_folder_read_cannot_be_the_output_folder(app, fake_engine, tmp_path, out):
    """Its cutouts would be photos to the next run: made again, or clashing with the photos
    they were made of (before: a.png was skipped as its own output, "made 0", exit 0)."""
    src = tree(tmp_path)
    before = outputs(src)
    result = invoke(app, src, "--out", src / out)
    assert result.exit_code == 2 and fake_engine.calls == 0
    assert result.stderr.splitlines()[-1] == (
        "Error: --out must be another folder than the ones read: the cutouts would be read "
        "as photos by the next run.")
    assert outputs(src) == before


def test_a_photo_is_never_its_own_output(app, fake_engine, tmp_path):
    """A PNG named on the command line with --out its own folder: refused, untouched; a
    JPEG beside it gets its PNG there, and a run again skips that one."""
    (tmp_path / "a.png").write_bytes(original := photo(fmt="PNG", size=(64, 48)))
    (tmp_path / "b.jpg").write_bytes(photo(size=(64, 48)))
    result = invoke(app, tmp_path / "a.png", tmp_path / "b.jpg", "--out", tmp_path)
    assert result.exit_code == 1 and fake_engine.calls == 1 and tally(result) == (1, 0, 1)
    assert result.stdout.splitlines()[-1] == (
        f"  {tmp_path / 'a.png'}: its output {tmp_path / 'a.png'} would be the photo itself")
    assert (tmp_path / "a.png").read_bytes() == original
    again = invoke(app, tmp_path / "b.jpg", "--out", tmp_path)
    assert again.exit_code == 0 and tally(again) == (0, 1, 0) and fake_engine.calls == 1


def test_an_output_where_another_photo_of_the_batch_is_is_refused(app, fake_engine, tmp_path):
    """cat.jpg and cat.png with --out their own folder: cat.jpg's PNG would be cat.png
    (before: cat.jpg "skipped, already made"); the same through a source inside --out."""
    (tmp_path / "cat.jpg").write_bytes(photo(size=(64, 48)))
    (tmp_path / "cat.png").write_bytes(original := photo(fmt="PNG", size=(64, 48)))
    result = invoke(app, tmp_path / "cat.jpg", tmp_path / "cat.png", "--out", tmp_path)
    assert result.exit_code == 1 and tally(result) == (0, 0, 2) and fake_engine.calls == 0
    assert result.stdout.splitlines()[2:] == [
        f"  {tmp_path / 'cat.jpg'}: its output {tmp_path / 'cat.png'} would be the photo "
        f"{tmp_path / 'cat.png'}",
        f"  {tmp_path / 'cat.png'}: its output {tmp_path / 'cat.png'} would be the photo itself"]
    assert (tmp_path / "cat.png").read_bytes() == original
    inner = tmp_path / "a" / "b"
    (inner / "b").mkdir(parents=True)
    (inner / "x.png").write_bytes(photo(fmt="PNG", size=(64, 48)))
    (inner / "b" / "x.png").write_bytes(photo(fmt="PNG", size=(64, 48)))
    nested = invoke(app, inner, "--out", tmp_path / "a")  # a/b/b/x.png's output: a/b/x.png
    assert nested.exit_code == 1 and tally(nested) == (1, 0, 1) and fake_engine.calls == 1
    assert nested.stdout.splitlines()[2:] == [
        f"  {inner / 'b' / 'x.png'}: its output {tmp_path / 'a' / 'b' / 'x.png'} would be the "
        f"photo {inner / 'x.png'}"]
    assert (tmp_path / "a" / "x.png").is_file()


def test_a_run_that_finds_no_photo_says_so(app, fake_engine, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("not a photo")
    result = invoke(app, src, "--out", tmp_path / "out")
    assert result.exit_code == 0 and tally(result) == (0, 0, 0)
    assert result.stdout.splitlines()[1:] == [
        "No JPEG, PNG or WebP photo was found in what was given.",
        "Left alone 1 file(s) that are not JPEG, PNG or WebP images."]
    (src / "a.jpg").write_bytes(photo(size=(64, 48)))
    assert invoke(app, src, "--out", tmp_path / "out").stdout.splitlines()[1:] == [
        "Left alone 1 file(s) that are not JPEG, PNG or WebP images."]


def test_two_photos_with_one_output_name_the_second_fails(app, fake_engine, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "cat.jpg").write_bytes(photo(size=(64, 48)))
    (src / "cat.png").write_bytes(photo(fmt="PNG", size=(64, 48)))
    result = invoke(app, src, "--out", tmp_path / "out")
    assert result.exit_code == 1 and fake_engine.calls == 1
    assert result.stdout.splitlines()[-1] == (
        f"  {src / 'cat.png'}: its output {tmp_path / 'out' / 'cat.png'} is also the output "
        f"of {src / 'cat.jpg'}")


def test_the_options_reach_the_core(app, fake_engine, tmp_path):
    """FakeEngine keeps the left half: the right half is the background asked for, red,
    so a red and blue swapped anywhere on the way fails."""
    source = tmp_path / "cat.jpg"
    source.write_bytes(photo(size=(400, 300)))
    out = tmp_path / "out"
    result = invoke(app, source, "--out", out, "--output", "color", "--background", "#FF0000",
                    "--format", "jpeg", "--size", "0.03")
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["cat.jpg"]
    with Image.open(out / "cat.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (200, 150))  # 0.03 MP, aspect kept
        red = image.convert("RGB").getpixel((180, 75))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15, red
    webp = invoke(app, source, "--out", out, "--format", "webp", "--crop", "--crop-margin", "0")
    assert webp.exit_code == 0
    with Image.open(out / "cat.webp") as image:  # cropped to the kept (opaque) left half
        assert (image.format, image.size) == ("WEBP", (200, 300))


@pytest.mark.parametrize("args, message", [
    (["--format", "jpeg"], "A JPEG cannot hold transparency: choose PNG or WebP, or put the "
                           "subject on a background."),
    (["--crop-margin", "500"], "The crop margin must be a whole number of percent from 0 "
                               "to 100, such as 10 (no % sign)."),
    (["--background", "red", "--output", "color"], "Choose a background colour as #rrggbb, "
                                                   "e.g. #ffffff."),
    (["--size", "big"], "size must be preview (about 0.25 megapixels), full, or a number of "
                        "megapixels from 0.01 to 1000, such as 2 or 0.5."),
    (["--output", "image"], "Choose a background photo to put behind the subject."),
    (["--key", "k"], "--key goes with --server."),
    (["--connections", "2"], "--connections goes with --server."),
    (["--threads", "2", "--server", "http://127.0.0.1:9"], "--threads is for this process; "
                                                           "with --server, --connections."),
    (["--server", "ftp://host"], "--server takes an http(s) address, not 'ftp://host'."),
    (["--server", "http://127.0.0.1:9/bg/api/v1/"], "--server is the server's address, "
                                                    "without /api/v1: 'http://127.0.0.1:9/bg'."),
])
def test_a_bad_value_is_a_usage_error_before_any_work(app, fake_engine, tmp_path, args, message):
    src, out = tree(tmp_path), tmp_path / "out"
    result = invoke(app, src, "--out", out, *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert fake_engine.calls == 0 and not out.exists()


def test_an_unknown_choice_is_clicks_usage_error(app, fake_engine, tmp_path):
    result = invoke(app, tree(tmp_path), "--out", tmp_path / "out", "--output", "sepia")
    assert result.exit_code == 2 and "'sepia' is not one of 'transparent', 'color'" in (
        result.stderr)


def test_the_options_are_the_forms_fields():
    """Made from RemoveRequest: a new field would be a new option with no edit here."""
    made = {option.name: option for option in output_options()}
    assert set(made) == set(RemoveRequest.model_fields) - {"image", "image_url"}
    for name, option in made.items():
        info = RemoveRequest.model_fields[name]
        assert option.opts[0] == "--" + name.replace("_", "-")
        assert option.default is None  # left out: the form's own default
        assert (info.description or "").replace("`", "") in option.help
        if getattr(info.annotation, "__origin__", None) is Literal:
            assert list(option.type.choices) == [str(c) for c in get_args(info.annotation)]
    assert made["crop"].secondary_opts == ["--no-crop"]
    assert made["crop_margin"].help.endswith("[default: 5]")


def test_a_write_stopped_half_way_leaves_nothing(tmp_path, monkeypatch):
    writer, target = Writer(), tmp_path / "deep" / "a.png"
    real_fsync = os.fsync

    def interrupted(fd):  # Ctrl+C arrives while the bytes are being written
        writer.abandon()
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(InterruptedError):
        writer.write(target, b"\x89PNG" + b"x" * 1000)
    assert list(target.parent.iterdir()) == []
    with pytest.raises(InterruptedError):  # and nothing more is started
        writer.write(tmp_path / "b.png", b"data")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_mode_the_umask_gives_a_new_file(tmp_path, umask, mode):
    """An output is written under a temporary name, then renamed: it ends with the
    permissions any program's new file would get, not mkstemp's private 0600."""
    previous = os.umask(umask)
    try:
        Writer().write(tmp_path / "a.png", b"data")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == mode
    assert (tmp_path / "a.png").read_bytes() == b"data"


def test_ctrl_c_stops_the_run_with_nothing_half_written(tmp_path):
    # Python's own Ctrl+C handler, whatever this process inherited: a shell's background
    # job starts with SIGINT ignored, and a terminal's Ctrl+C never reaches one anyway.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_during_the_second_photo(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_during_the_second_photo(tmp_path):
    src = tree(tmp_path)
    png = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(png, "PNG")
    sent = []

    def send(data, name):
        sent.append(name)
        if len(sent) == 2:  # the second photo: Ctrl+C while it is being made
            os.kill(os.getpid(), signal.SIGINT)
            # Its result comes back only once the run has taken the Ctrl+C in, however
            # busy the machine (a fixed sleep could end first).
            assert runner.stop.wait(60)
        return png.getvalue()

    out = tmp_path / "out"
    runner = Runner(send, threads=1, progress=False)
    tally = runner.run(plan([src], out, ".png"))
    assert tally.interrupted and tally.made == 1
    assert outputs(out) == ["a.png"]
    assert tally.summary().startswith("Stopped in ")


def test_sigterm_stops_the_command_as_ctrl_c_does(app, tmp_path):
    """Exit status 130, the summary of what was done, no temporary file left."""

    class Terminated(FakeEngine):
        def mask(self, photo, model=None):
            if self.calls == 1:  # the second photo: a SIGTERM while it is in the model
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(3)
            return super().mask(photo, model)

    use_engine(app, Terminated())
    src, out = tree(tmp_path), tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    result = invoke(app, src, "--out", out, "--threads", "1")
    assert result.exit_code == 130, result.output
    assert result.stdout.startswith("Stopped in ") and tally(result) == (1, 0, 0)
    assert outputs(out) == ["a.png"]
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


def unopened(fifos: list[Path], call):
    """`call()` in a thread, while any FIFO it opens for reading is caught: a writer opened
    without blocking succeeds only when a reader is there, and lets that reader go (it reads
    nothing), so a regression fails the test instead of hanging it."""
    result, opened = [], []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while worker.is_alive() and time.monotonic() < deadline:
        for fifo in fifos:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader, as it should be
                continue
            # Once the run has written its file over the FIFO, this opens that file:
            # only a FIFO opened here means a reader was waiting.
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                opened.append(fifo.name)
            os.close(fd)
        worker.join(0.01)
    assert opened == [] and result, opened
    return result[0]


def test_files_that_are_not_regular_are_left_alone_never_opened(app, fake_engine, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.jpg").write_bytes(photo(size=(64, 48)))
    (src / "link.jpg").symlink_to(src / "a.jpg")  # a symlink to a photo is a photo
    os.mkfifo(src / "fifo.jpg")
    (src / "fifo-link.jpg").symlink_to(src / "fifo.jpg")
    (src / "null.jpg").symlink_to(os.devnull)  # a device
    result = unopened([src / "fifo.jpg"], lambda: invoke(app, src, "--out", out))
    assert result.exit_code == 0, result.output
    assert outputs(out) == ["a.png", "link.png"]
    assert tally(result) == (2, 0, 0)
    assert result.stdout.splitlines()[1:] == [
        "Left alone 3 file(s) that are not JPEG, PNG or WebP images."]


def test_a_fifo_named_on_the_command_line_fails_unopened(app, fake_engine, tmp_path):
    fifo = tmp_path / "cat.jpg"
    os.mkfifo(fifo)
    result = unopened([fifo], lambda: invoke(app, fifo, "--out", tmp_path / "out"))
    assert result.exit_code == 1 and fake_engine.calls == 0
    assert result.stdout.splitlines()[1:] == [
        "Failed:", f"  {fifo}: not a regular file (a FIFO, socket or device), not opened"]


def test_a_fifo_as_background_image_is_a_usage_error_unopened(app, fake_engine, tmp_path):
    src, fifo = tmp_path / "a.jpg", tmp_path / "back.png"
    src.write_bytes(photo(size=(64, 48)))
    os.mkfifo(fifo)
    result = unopened([fifo], lambda: invoke(app, src, "--out", tmp_path / "out",
                                             "--background-image", fifo))
    assert result.exit_code == 2 and fake_engine.calls == 0
    assert result.stderr.splitlines()[-1] == (
        f"Error: --background-image {fifo}: not a regular file (a FIFO, socket or "
        "device), not opened.")


@pytest.mark.parametrize("background, message", [
    (b"not a photo", "The background photo could not be used. That file is not an image we "
                     "can read. Please upload a JPEG, PNG or WebP image."),
    (photo(fmt="PNG", size=(64, 48))[:60], "The background photo could not be used. The "
                                           "image file is damaged or incomplete. Please upload a "
                                           "whole JPEG, PNG or WebP image."),
])
def test_a_background_that_is_no_photo_is_a_usage_error(app, fake_engine, tmp_path,
                                                        background, message):
    """Checked once, as the core checks one, before any photo (before: every photo failed
    for it, and through a server each one uploaded it again)."""
    src, back = tree(tmp_path), tmp_path / "back.png"
    back.write_bytes(background)
    result = invoke(app, src, "--out", tmp_path / "out", "--output", "image",
                    "--background-image", back)
    assert result.exit_code == 2 and fake_engine.calls == 0
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert not (tmp_path / "out").exists()


def test_a_fifo_where_an_output_goes_is_not_taken_for_done_nor_opened(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "a.jpg").write_bytes(photo(size=(64, 48)))
    os.mkfifo(out / "a.png")
    png = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(png, "PNG")
    runner = Runner(lambda data, name: png.getvalue(), progress=False)
    tally = unopened([out / "a.png"], lambda: runner.run(plan([src], out, ".png")))
    assert (tally.made, tally.skipped, tally.failed) == (1, 0, [])
    assert (out / "a.png").read_bytes() == png.getvalue()  # written over the FIFO


def test_a_photo_replaced_by_a_fifo_after_the_plan_fails_unopened(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.jpg").write_bytes(photo(size=(64, 48)))
    todo = plan([src], out, ".png")
    (src / "a.jpg").unlink()
    os.mkfifo(src / "a.jpg")
    runner = Runner(lambda data, name: b"never sent", progress=False)
    tally = unopened([src / "a.jpg"], lambda: runner.run(todo))
    assert (tally.made, tally.failed) == (0, [(
        str(src / "a.jpg"), "not a regular file (a FIFO, socket or device), not opened")])
    assert not out.exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("before", "sent", "last"), [
    ("abc", ["d.jpg"], "1/1"),  # the time left is that one photo's, not a quarter of it
    ("d", ["a.jpg", "b.jpg", "c.jpg"], "3/3"),  # the last one out was a skip: drawn whole
    ("abcd", [], "0/0"),
])
def test_photos_made_by_an_earlier_run_leave_the_progress_bars_count(tmp_path, monkeypatch,
                                                                    before, sent, last):
    """An output already there leaves the count (its check takes no time, so counted as a
    step it made a resumed run's time left far too short), and the bar is drawn again."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    png = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(png, "PNG")
    for name in "abcd":
        (src / f"{name}.jpg").write_bytes(photo(size=(64, 48)))
    for name in before:
        (out / f"{name}.png").write_bytes(png.getvalue())
    screen, progressbar = _Terminal(), click.progressbar
    monkeypatch.setattr(click, "progressbar",
                        lambda *args, **kwargs: progressbar(*args, **{**kwargs, "file": screen}))
    names = []
    tally = Runner(lambda data, name: names.append(name) or png.getvalue(),
                   threads=1).run(plan([src], out, ".png"))
    assert (tally.made, tally.skipped, names) == (len(sent), len(before), sent)
    drawn = screen.getvalue().split("\r")[-1]
    assert drawn.startswith(f"\x1b[?25lRemoving backgrounds  [{'#' * 36}]  {last}  ")


def test_the_options_are_sent_in_the_forms_order_whatever_the_command_lines():
    """`--crop --output color` and `--output color --crop` send the same form, field for
    field in the same order (a server's log or signature sees the same request)."""
    typed = {"crop": True, "size": None, "output": "color"}
    assert list(chosen(typed).items()) == [("output", "color"), ("crop", True)]


def test_a_background_by_address_is_fetched_once_for_the_run(app, fake_engine, tmp_path):
    """In this process the address is fetched once, as --background-image is read once,
    and one that fails is a usage error before any photo (it failed every photo)."""
    from app.core.errors import Rejected

    src, out = tree(tmp_path), tmp_path / "out"
    asked = []
    uploads = app.extensions["services"].uploads
    uploads.fetch = lambda url, holder=None: asked.append(url) or photo(size=(40, 30))
    result = invoke(app, src, "--out", out, "--output", "image",
                    "--background-image-url", "https://photos.example/lawn.jpg")
    assert result.exit_code == 0, result.output
    assert tally(result) == (3, 0, 0) and asked == ["https://photos.example/lawn.jpg"]

    def unreachable(url, holder=None):
        raise Rejected("url_unreachable", "The address could not be reached.")

    both = invoke(app, src, "--out", tmp_path / "both", "--output", "image",
                  "--background-image", src / "a.jpg",
                  "--background-image-url", "https://photos.example/lawn.jpg")
    assert both.exit_code == 2 and asked == ["https://photos.example/lawn.jpg"]  # no fetch
    assert both.output.splitlines()[-1] == (
        "Error: Send the background photo as a file (background_image) or an address "
        "(background_image_url), not both.")

    uploads.fetch = unreachable
    result = invoke(app, src, "--out", tmp_path / "other", "--output", "image",
                    "--background-image-url", "https://photos.example/gone.jpg")
    assert result.exit_code == 2 and not (tmp_path / "other").exists()
    assert result.output.splitlines()[-1] == (
        "Error: --background-image-url https://photos.example/gone.jpg: The address could "
        "not be reached.")


@pytest.mark.parametrize("where", ["under a file", "a file system that is read-only"])
def test_an_out_that_cannot_be_written_stops_the_run_before_any_photo(app, fake_engine, tmp_path,
                                                                     where):
    """The check asked os.access of the nearest folder there: a file in the way, or for
    root a folder of /sys, passed it, and each photo went through the model, then failed."""
    src = tree(tmp_path)
    blocker = tmp_path / "cat.jpg"
    blocker.write_bytes(b"a file")
    out, why = {"under a file": (blocker / "out" / "deeper", "Not a directory"),
                # root may write anywhere that os.access is asked of, but not here
                "a file system that is read-only": (Path("/sys/kernel"), None)}[where]
    result = invoke(app, src, "--out", out)
    assert (result.exit_code, fake_engine.calls, result.stdout) == (2, 0, "")
    said = result.stderr.splitlines()[-1]
    assert said.startswith(f"Error: --out {out} cannot be written (")
    if why:
        assert said == f"Error: --out {out} cannot be written ({why})."
    assert blocker.read_bytes() == b"a file"
