"""`flask remove-bg SRC... --out DIR`: the click command, in this process through the core
or through a running server (`--server`)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import click
import requests
from flask import current_app
from flask.cli import with_appcontext

from app.batch.files import plan
from app.batch.options import check, chosen, output_options
from app.batch.out_folder import held
from app.batch.runner import Runner, Tally
from app.batch.senders import API, Failed, LocalSender, ServerSender, Wait
from app.core.errors import Rejected
from app.hosting import set_but_empty

# Photos made at once in this process: one thread decodes and encodes while the other's
# photo is in the model (docs/performance.md, "Batch command").
LOCAL_THREADS = 2
KEY_VARIABLE = "REMOVE_BG_API_KEY"
EPILOG = ("Outputs already there and whole are skipped, so a stopped run picks up where it "
          "stopped when started again. Exit status: 0 when every photo was made or already "
          "there, 1 when any failed (the summary says why), 2 for a usage error, 130 when "
          "stopped.")


def _used(ctx: click.Context, name: str) -> bool:
    """Given on the command line: REMOVE_BG_API_KEY set in the environment is not a --key
    given to a run in this process."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


@click.command("remove-bg", epilog=EPILOG)
@click.argument("sources", metavar="SRC...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder the cutouts are written to, mirroring the folders given.")
@click.option("--server", metavar="URL",
              help="Send each photo to this server's POST /api/v1/remove instead of "
                   "running the model here, e.g. http://127.0.0.1:5000.")
@click.option("--key", envvar=KEY_VARIABLE, metavar="KEY",
              help=f"The server's API key, sent as X-Api-Key (or set {KEY_VARIABLE}); "
                   "without one, a session cookie and its CSRF token.")
@click.option("--connections", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Photos sent to the server at once.")
@click.option("--threads", type=click.IntRange(1, 64), default=LOCAL_THREADS,
              show_default=True, help="Photos made at once in this process.")
@click.option("--max-wait", type=click.FloatRange(0), default=300.0, show_default=True,
              help="Seconds a photo may wait in all for a busy or rate-limited server "
                   "(Retry-After) before it counts as failed.")
@click.option("--progress/--no-progress", default=True, help="A progress bar on stderr.")
@click.pass_context
@with_appcontext
def remove_bg(ctx: click.Context, sources, out: Path, server, key, connections, threads,
              max_wait, progress, **given):
    """Remove the background of every JPEG, PNG and WebP photo in SRC (files, and folders
    with everything under them, recognised by their content), writing each cutout under
    DIR as its name with the format's extension (cat.jpg -> cat.png)."""
    if server is None:
        for option in ("key", "connections"):
            if _used(ctx, option):
                raise click.UsageError(f"--{option} goes with --server.")
    elif _used(ctx, "threads"):
        raise click.UsageError("--threads is for this process; with --server, --connections.")
    elif not key and (key is not None or set_but_empty(KEY_VARIABLE)):
        # Click takes an empty variable for none: the run went on as a visitor, under the
        # visitors' limits, with nothing said (a misspelt variable in `--key "$KEY"`).
        raise click.UsageError(f"The key is empty (--key, or {KEY_VARIABLE}): give the "
                               "server's key, or leave both out to send as a visitor.")
    if any(source.is_dir() and source.resolve() == out.resolve() for source in sources):
        raise click.UsageError("--out must be another folder than the ones read: the "
                               "cutouts would be read as photos by the next run.")
    values, services = chosen(given), current_app.extensions["services"]
    if (server is None and values.get("background_image_url")
            and values.get("background_image") is None):  # both: the form's refusal below
        # Fetched once for the run, as --background-image is read once: one fetch, and an
        # address that fails stops the run before any photo, not every photo.
        url = values.pop("background_image_url")
        try:
            values["background_image"] = services.uploads.fetch(url)
        except Rejected as exc:
            raise click.UsageError(f"--background-image-url {url}: {exc.message}") from None
    # A server's own pixel limit and models are its to check; here, only this process's.
    form = check(values, sys.maxsize if server else services.uploads.max_image_pixels,
                 services.engines if server is None else None)
    send = LocalSender(services.uploads, values) if server is None else _server(server, key, values)
    # A photo in the model is let finish when the run stops: the process aborted when it
    # exited under OpenVINO's threads. A server's answer is not waited for.
    runner = Runner(send, threads=connections if server else threads, max_wait=max_wait,
                    progress=progress, finish_on_stop=server is None)
    main = threading.current_thread() is threading.main_thread()  # where signals land
    # SIGTERM stops the run as Ctrl+C does (KeyboardInterrupt): nothing half-written. From
    # before the walk through the folders, which may take a while too.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main else None
    started = time.monotonic()
    try:
        with held(out):
            tally = runner.run(plan(sources, out, ".jpg" if form.format == "jpeg"
                                    else f".{form.format}"))
    except KeyboardInterrupt:  # while the folders were walked
        tally = Tally(interrupted=True)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    tally.seconds = time.monotonic() - started  # the walk included
    click.echo(tally.summary())
    if tally.left_in_model:
        # Leaving as a program does, under the model's threads, aborts the process (exit
        # 134, helper 103). Ended at once instead, as a kill would end it: a temporary
        # file left half-way is deleted when a run reaches its photo again.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    if tally.interrupted:
        ctx.exit(130)
    if tally.failed:
        ctx.exit(1)


def _server(url: str, key: str | None, values) -> ServerSender:
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"--server takes an http(s) address, not {url!r}.")
    if url.rstrip("/").endswith(API):  # the command adds it: .../api/v1/api/v1/remove
        raise click.UsageError(f"--server is the server's address, without {API}: "
                               f"{url.rstrip('/').removesuffix(API)!r}.")
    send = ServerSender(url, values, key=key)
    try:  # the server answers before any photo is sent: else, say so at once
        send.check()
    except requests.ConnectionError as exc:  # refused, unknown name, no answer to connect
        raise click.ClickException(
            f"{url} cannot be reached ({_cause(exc)}): check the address, and that the server "
            "is running.") from None
    except (requests.RequestException, Failed) as exc:
        raise click.ClickException(f"{url} cannot be used: {exc}") from None
    except Wait as exc:
        raise click.ClickException(f"{url} cannot be used now: {exc.reason}; try again "
                                   f"in {exc.seconds:.0f} s.") from None
    return send


def _cause(exc: BaseException) -> str:
    """The system's own words for why a connection failed ("Connection refused"), found
    under the layers requests and urllib3 wrap it in; else the error's kind."""
    seen: BaseException | None = exc
    for _ in range(8):  # a few layers deep at most; never round a loop of causes
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = getattr(seen, "reason", None) or inner or seen.__cause__ or seen.__context__
    return type(exc).__name__


remove_bg.params.extend(output_options())
