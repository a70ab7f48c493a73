"""image-background-processor: upload a photo, get it back without its background.

Importing the package loads nothing heavy (gunicorn's master imports `app.hosting`, the
model fetcher is build tooling: `python -m scripts.models`); `create_app` builds the app:
settings → services → the shared HTTP pieces → the three front doors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.settings import Settings


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config`: a `Settings`, a mapping of environment variables, or
    None for the process environment (and `.env`). A setting that is wrong is a
    `ConfigError` saying which and why; under `flask` commands, that sentence alone."""
    import click

    from app.hosting import ConfigError

    try:
        return _built(config)
    except ConfigError as exc:
        if click.get_current_context(silent=True) is None:  # gunicorn, tests: as raised
            raise
        from werkzeug.serving import is_running_from_reloader

        if is_running_from_reloader():  # `flask run --debug` stays up for the fix
            raise click.ClickException(str(exc)) from None
        # Under `flask --help`, Flask lists the app's commands inside `except Exception`
        # and printed a traceback there: the sentence, then exit 1, as click's own errors.
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None


MEMORY_LIMITS = ("RATELIMIT_STORAGE_URI is memory://: each worker process counts the rate "
                 "limits and API keys' megapixels a day on its own, so with several workers "
                 "or pods they are that many times looser, and a restart starts them afresh. "
                 "Set a redis:// address that every pod shares (docs/deploy.md).")


def _built(config: Settings | Mapping[str, str] | None) -> Flask:
    import secrets

    from werkzeug.middleware.proxy_fix import ProxyFix

    from app.hosting import check_metrics_folder
    from app.http.sizes import MAX_FORM_MEMORY_SIZE, MAX_FORM_PARTS
    from app.services import build_services
    from app.settings import Settings

    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    check_metrics_folder(settings.prometheus_multiproc_dir)

    from app import http
    from app.http import observability

    observability.configure_logging(settings.log_json, settings.log_level)
    app = http.App("app")
    if not settings.secret_key and _serving():  # Settings refuses production without one
        app.logger.warning("APP_SECRET_KEY is not set: using a temporary key (development "
                           "only); visitors get new ids after a restart.")
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY_SIZE,
        SESSION_COOKIE_SAMESITE="Lax",
        # CSRF tokens last as long as the page's session cookie, not one hour, so a tab
        # left open all afternoon can still upload.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = from_the_front(ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n),
                                      app.wsgi_app)
    app.extensions["services"] = services = build_services(settings)
    if (settings.app_env == "production" and settings.ratelimit_storage_uri == "memory://"
            and _serving()):
        app.logger.warning(MEMORY_LIMITS)
    if services.demo_storage and _serving():
        app.logger.warning("MONGO_URI is not set: using demo storage in memory; all records "
                           "are lost when the process stops, and past %d MB (DEMO_STORE_MB) "
                           "the oldest make room.", settings.demo_store_mb)

    from app import api, cli, removebg, web

    cli.init_app(app)
    http.init_app(app, doors=[web.DOOR, api.DOOR, removebg.DOOR])
    for door in (web, api, removebg):
        for blueprint in door.BLUEPRINTS:
            app.register_blueprint(blueprint)
    return app


def _serving() -> bool:
    """Whether this app is built to serve visitors (gunicorn, `flask run`, tests), where a
    temporary cookie key and records kept in memory are worth a warning; not for another
    `flask` command (`remove-bg`, `keys`), to which they mean nothing (helper 94)."""
    import click

    context = click.get_current_context(silent=True)
    return context is None or context.info_name == "run"


def from_the_front(proxied, direct):
    """`proxied` for a request from this machine (the front: nginx in the pod, or `make
    serve`'s), `direct` for any other peer: its X-Forwarded-* are its own words, and
    believed they would let it choose the address the limits count (helper 76)."""
    def wsgi(environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        chosen = proxied if peer == "::1" or peer.startswith("127.") else direct
        return chosen(environ, start_response)
    return wsgi
