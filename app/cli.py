"""`flask` commands for operators."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.batch.command import remove_bg
from app.engines.admission import COUNTING
from app.storage import legacy, maintenance
from app.storage.keys import DEFAULT_PER_MINUTE, NAME, NAME_RULE, KeyExists


@click.command("migrate-images")
@with_appcontext
@click.option("--limit", type=int, default=None, help="Migrate at most this many records.")
def migrate_images(limit: int | None) -> None:
    """Move records in the original app's layout (base64 images inside the document) to
    GridFS, and make the gallery's renditions of records that lack them. Safe to stop and
    to run again."""
    services = current_app.extensions["services"]
    migrated, remaining = legacy.migrate(services.records, limit=limit)
    click.echo(f"Migrated {migrated} record(s); {remaining} left in the old layout.")
    done, failed = services.gallery.fill_thumbnails()
    click.echo(f"Made renditions for {done} record(s)"
               + (f"; {failed} image(s) could not be read." if failed else "."))


@click.command("sweep-orphans")
@with_appcontext
@click.option("--older-than-minutes", type=int, default=60, show_default=True,
              help="Only files stored longer ago than this (uploads in progress are younger).")
def sweep_orphans(older_than_minutes: int) -> None:
    """Delete stored image files that no record refers to."""
    swept = maintenance.sweep_orphans(current_app.extensions["services"].records,
                                      timedelta(minutes=older_than_minutes))
    click.echo(f"Deleted {swept} orphan file(s).")


keys = AppGroup("keys", help='API keys for programs (docs/api.md, "API keys").')


def _book(changing: bool):
    services = current_app.extensions["services"]
    if changing and services.demo_storage:
        raise click.ClickException(
            "MONGO_URI is not set, so a key made or revoked here would live only in this "
            "command's memory. Set MONGO_URI, or give the server its keys in API_KEYS "
            "(NAME:KEY pairs).")
    return services.keys


def _name(ctx, param, value: str) -> str:
    if not NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r}: a key's name is {NAME_RULE}.")
    return value


@keys.command("create")
@click.argument("name", callback=_name)
@click.option("--per-minute", type=click.IntRange(min=1), default=DEFAULT_PER_MINUTE,
              show_default=True, help=f"Rate-limit counts a minute ({COUNTING}).")
@click.option("--megapixels-per-day", type=click.IntRange(min=1), default=None,
              help="Megapixels of photos a rolling 24 hours may take (default: no cap).")
def create_key(name: str, per_minute: int, megapixels_per_day: int | None) -> None:
    """Make a key and print it, once: only its hash is kept. The last line is the key
    alone."""
    try:
        key, secret = _book(changing=True).create(name, per_minute, megapixels_per_day)
    except KeyExists:
        raise click.ClickException(f"There is already a key named {name!r} (a revoked "
                                   "key's name stays taken).") from None
    daily = f", {megapixels_per_day} MP a day" if megapixels_per_day else ""
    click.echo(f"Made the key {key.name!r} ({key.per_minute} counts a minute{daily}). "
               "It is shown this once; keep it secret:", err=True)
    click.echo(secret)


@keys.command("list")
def list_keys() -> None:
    """Every live key: its name, first characters, limits, dates and usage today (UTC)."""
    rows = [("NAME", "KEY", "PER MINUTE", "MP A DAY", "CREATED", "LAST USED", "CALLS TODAY",
             "MP TODAY")]
    for key, usage in _book(changing=False).list():
        rows.append((key.name, key.shown + "…", str(key.per_minute),
                     str(key.megapixels_per_day or "-"),
                     "API_KEYS" if key.from_setting else _when(key.created),
                     _when(key.last_used), str(usage.calls), f"{usage.megapixels:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@keys.command("revoke")
@click.argument("name")
def revoke_key(name: str) -> None:
    """Refuse a key from now on (on every pod: each call looks its key up)."""
    if not _book(changing=True).revoke(name):
        raise click.ClickException(f"There is no live key named {name!r} in the database "
                                   "(a key of API_KEYS is revoked by removing it there).")
    click.echo(f"Revoked the key {name!r}.")


def init_app(app: Flask) -> None:
    for command in (migrate_images, sweep_orphans, remove_bg, keys):
        app.cli.add_command(command)
