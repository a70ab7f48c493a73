"""Fetch a photo from a URL a visitor gave, without letting the visitor reach through our
server what they should not (SSRF): the cloud metadata service, the cluster's private
services, the pod itself.

http(s) only (targets.py); the host is resolved once and every address must be public, or in
the operator's `allowed_networks` (addresses.py); the connection goes to the address that was
checked, never through a second lookup (DNS rebinding); each redirect is checked the same
way; one deadline covers the whole fetch; the body is streamed and capped (client.py). No
Flask here: `fetch` raises `Rejected` with one of these codes and a sentence for people.
"""

from app.core.fetching.addresses import parse_networks
from app.core.fetching.client import USER_AGENT, fetch

# Error code -> (kind of problem, what it means), for the API's error table.
CODES = {
    "invalid_url": ("invalid", "not an http(s) URL with a host: another scheme, user:pass@, "
                               "a numeric host in an odd form, or a host DNS does not know"),
    "url_refused": ("invalid", "the host, or a redirect, leads to an address that is not "
                               "public (loopback, private, link-local, metadata...)"),
    "url_failed": ("failed", "the address answered other than 2xx, redirected too often or "
                             "nowhere, sent a compressed or broken answer, or its TLS "
                             "certificate is not valid for its name"),
    "url_unavailable": ("unavailable", "the host could not be looked up or connected to"),
    "url_timeout": ("timeout", "no connection, no answer, or not the whole photo in time"),
    "too_large": ("too_large", "the photo at the address is over the upload limit"),
}

__all__ = ["CODES", "USER_AGENT", "fetch", "parse_networks"]
