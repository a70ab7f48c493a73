"""Fetch a photo from a URL a visitor gave, without letting the visitor reach through our
server what they should not (SSRF): the cloud metadata service, the cluster's private
services, the pod itself.

http(s) only (targets.py); the host is resolved once and every address must be public, or in
the operator's `allowed_networks` (addresses.py); the connection goes to the address that was
checked, never through a second lookup (DNS rebinding); each redirect is checked the same
way; one deadline covers the whole fetch; the body is streamed and capped (client.py). No
Flask here: `fetch` raises `Rejected` with one of the codes in codes.py and a sentence for
people.
"""

from app.core.fetching.addresses import parse_networks
from app.core.fetching.client import CONNECT_TIMEOUT, READ_TIMEOUT, USER_AGENT, fetch
from app.core.fetching.codes import CODES

__all__ = ["CODES", "CONNECT_TIMEOUT", "READ_TIMEOUT", "USER_AGENT", "fetch", "parse_networks"]
