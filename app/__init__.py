"""image-background-processor: upload a photo, get it back without its background."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app import observability
from app.config import Settings, check_metrics_folder
from app.engines import build_engine
from app.storage import RecordRepository, StorageUnavailable, open_database

csrf = CSRFProtect()


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config`: a `Settings`, a mapping of environment variables, or
    None for the process environment (and `.env`)."""
    if config is None:
        settings = Settings.from_env()
    elif isinstance(config, Settings):
        config.check()
        settings = config
    else:
        settings = Settings.from_env(dict(config), dotenv=False)

    check_metrics_folder(settings)
    app = Flask(__name__)
    observability.configure_logging(settings.log_json, settings.log_level)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SESSION_COOKIE_SAMESITE="Lax",
        # CSRF tokens last as long as the page's session cookie, not one hour, so a tab
        # left open all afternoon can still upload.
        WTF_CSRF_TIME_LIMIT=None,
    )
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    if settings.secret_key_generated:
        app.logger.warning("APP_SECRET_KEY is not set: using a temporary key (development "
                           "only); visitors get new ids after a restart.")

    database, embedded = open_database(settings.mongo_uri, settings.mongo_db,
                                       settings.mongo_timeout_ms)
    if embedded:
        app.logger.warning("MONGO_URI is not set: using demo storage in memory; all records "
                           "are lost when the process stops.")
    records = RecordRepository(database)
    try:
        records.ensure_indexes()
    except StorageUnavailable as exc:
        # Start anyway: /ready reports the outage and the indexes are made on reconnect.
        app.logger.warning("The database is unreachable at start-up: %s", exc)

    app.extensions["settings"] = settings
    app.extensions["records"] = records
    app.extensions["engine"] = build_engine(settings)
    app.extensions["demo_storage"] = embedded

    csrf.init_app(app)
    from app import cli

    cli.init_app(app)
    observability.init_app(app)

    from app.web import errors, health, images, pages, protections, visitor
    from app.web import records as record_routes

    visitor.init_app(app)
    protections.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(record_routes.bp)
    app.register_blueprint(images.bp)

    from app import api

    api.init_app(app)
    return app
