"""Which database the app talks to: MongoDB when MONGO_URI is set, else the embedded store."""

from __future__ import annotations

from app.storage.embedded import embedded_database


def open_database(mongo_uri: str, db_name: str, timeout_ms: int = 5000):
    """Return `(database, embedded)`.

    The database named in the URI's path wins over `db_name`, so an Atlas connection string
    pasted as it is keeps working.
    """
    if not mongo_uri:
        return embedded_database(db_name), True
    import pymongo

    # Short server-selection timeout: a page should say "database unavailable" in
    # seconds, not hang for pymongo's default 30 s.
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=timeout_ms,
                                 connectTimeoutMS=timeout_ms, socketTimeoutMS=60_000,
                                 appname="image-background-processor")
    return client.get_default_database(default=db_name), False
