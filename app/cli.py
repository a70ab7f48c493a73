"""`flask` commands for operators."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.batch.command import remove_bg
from app.storage import legacy, maintenance


@click.command("migrate-images")
@with_appcontext
@click.option("--limit", type=int, default=None, help="Migrate at most this many records.")
def migrate_images(limit: int | None) -> None:
    """Move records in the original app's layout (base64 images inside the document) to
    GridFS, and make the gallery's renditions of records that lack them. Safe to stop and
    to run again."""
    services = current_app.extensions["services"]
    result = legacy.migrate(services.records, limit=limit)
    click.echo(f"Migrated {result.migrated} record(s); {result.remaining} left in the old "
               "layout.")
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


def init_app(app: Flask) -> None:
    app.cli.add_command(migrate_images)
    app.cli.add_command(sweep_orphans)
    app.cli.add_command(remove_bg)
