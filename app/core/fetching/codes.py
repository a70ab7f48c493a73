"""The codes a fetch is refused with, and the kind of problem each is: one table, read by the
fetch and by the API's error table, so the kind (and so the status) changes in one place."""

from __future__ import annotations

from app.core.errors import Rejected

# Error code -> (kind of problem, what it means). A visitor's address that leads nowhere
# useful is bad input like a damaged file: a 400 with the reason, never a 5xx.
CODES = {
    "invalid_url": ("invalid", "not an http(s) URL with a host: another scheme, user:pass@, "
                               "a numeric host in an odd form, or a host DNS does not know"),
    "url_refused": ("invalid", "the host, or a redirect, leads to an address that is not "
                               "public (loopback, private, link-local, metadata...)"),
    "url_failed": ("invalid", "the address answered other than 2xx, redirected too often or "
                             "nowhere, sent a compressed or broken answer, or its TLS "
                             "certificate is not valid for its name"),
    "url_unavailable": ("invalid", "the host could not be looked up or connected to"),
    "url_timeout": ("invalid", "no connection, no answer, or not the whole photo in time"),
    "too_large": ("too_large", "the photo at the address is over the upload limit"),
}


def refused(code: str, message: str) -> Rejected:
    return Rejected(code, message, CODES[code][0])
