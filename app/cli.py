"""`flask` commands for operators."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.storage import legacy


@click.command("migrate-images")
@with_appcontext
@click.option("--limit", type=int, default=None, help="Migrate at most this many records.")
def migrate_images(limit: int | None) -> None:
    """Move records in the original app's layout (base64 images inside the document) to
    GridFS. Safe to stop and to run again."""
    result = legacy.migrate(current_app.extensions["records"], limit=limit)
    click.echo(f"Migrated {result.migrated} record(s); {result.remaining} left in the old "
               "layout.")


def init_app(app: Flask) -> None:
    app.cli.add_command(migrate_images)
