"""Everything the app builds once at start-up and its requests share, built from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from app.core import fetching
from app.core.edits import EditService
from app.core.fetching.gate import FetchGate
from app.core.gallery import Gallery
from app.core.uploads import UploadService
from app.engines import EngineRunner, build_runner
from app.settings import Settings
from app.storage import RecordRepository, StorageUnavailable, open_database
from app.storage.demo import BoundedDemoRepository
from app.storage.keys import KeyBook

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    records: RecordRepository
    engines: EngineRunner
    gallery: Gallery
    uploads: UploadService
    edits: EditService
    keys: KeyBook  # programs' API keys
    demo_storage: bool  # records live in memory and vanish with the process


def build_services(settings: Settings) -> Services:
    database, embedded = open_database(settings.mongo_uri, settings.mongo_db,
                                       settings.mongo_timeout_ms)
    records = (BoundedDemoRepository(database, settings.demo_store_mb * 2**20) if embedded
               else RecordRepository(database))
    keys = KeyBook(database, settings.key_pairs, records.outages)
    try:
        records.ensure_indexes()
        keys.ensure_indexes()
    except StorageUnavailable as exc:
        # Start anyway: /ready reports the outage and the indexes are made on reconnect.
        log.warning("The database is unreachable at start-up: %s", exc)
    engines = build_runner(settings)
    fetch = FetchGate(partial(
        fetching.fetch, max_bytes=settings.max_content_length,
        allowed_networks=fetching.parse_networks(settings.url_allowed_networks),
        connect_timeout=settings.url_connect_timeout,
        read_timeout=min(fetching.READ_TIMEOUT, settings.url_fetch_timeout),
        timeout=settings.url_fetch_timeout),
        slots=settings.url_fetch_concurrency, deadline=settings.url_fetch_timeout,
        place=engines.admission.place)
    uploads = UploadService(records, engines, user_limit=settings.user_limit,
                            max_image_pixels=settings.max_image_pixels, fetch=fetch)
    edits = EditService(records, engines, max_image_pixels=settings.max_image_pixels)
    return Services(settings, records, engines, Gallery(records, engines.admission), uploads,
                    edits, keys, embedded)
