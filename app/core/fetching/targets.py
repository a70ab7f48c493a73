"""A URL read one way only: what is checked is what is resolved, connected to and named in
the Host header and TLS. Anything a browser, inet_aton or a resolver could read another way
(numbers in odd forms, fullwidth digits, zone ids, backslashes) is refused or normalised
before the checks."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote

import idna

from app.core.errors import Rejected
from app.core.fetching.addresses import Address
from app.core.fetching.codes import refused
from app.core.fields import URL_MAX

# Left unescaped on the request line: what RFC 3986 allows there, and existing %-escapes.
_SAFE = "!$&'()*+,/:;=?@[]~%"
# RFC 3986, appendix B; not urlsplit, whose checks of [hosts] differ between Python versions.
_URL = re.compile(r"(?:(?P<scheme>[^:/?#]+):)?(?://(?P<netloc>[^/?#]*))?(?P<path>[^?#]*)"
                  r"(?:\?(?P<query>[^#]*))?(?:#.*)?", re.DOTALL)
_NETLOC = re.compile(r"(?P<host>\[[^\[\]]*\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?")
_HOSTNAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")
# WHATWG URL: a host whose last label is a number is an IPv4 address, and browsers and
# inet_aton read 2130706433, 0x7f.1 or 0177.1 as 127.0.0.1.
_ENDS_IN_NUMBER = re.compile(r"(?:.*\.)?(?:[0-9]+|0x[0-9a-f]*)")


@dataclass(frozen=True)
class Target:
    url: str
    https: bool
    host: str  # ASCII (IDNA), lower case, without brackets: what is resolved
    port: int
    path: str  # the request line's target
    literal: Address | None  # when the host is an address

    @property
    def name(self) -> str:
        """For the Host header, SNI, the certificate check and sentences."""
        return self.host.removesuffix(".")

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if self.literal and self.literal.version == 6 else self.name
        return name if self.port == (443 if self.https else 80) else f"{name}:{self.port}"


def invalid(message: str) -> Rejected:
    return refused("invalid_url", message)


def quoted(text: str) -> str:
    """Part of an address as a sentence quotes it: printable, and at most 100 characters (a
    page's refusal travels in its session cookie, which a 1,000-character host had taken
    past the front's 4 KB of headers: a 502)."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 100 else text[:99] + "…"


def parse(url: object) -> Target:
    """`url` as a `Target`, or `Rejected` (invalid_url) saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise invalid("Please give the photo's address, starting with http:// or https://.")
    url = url.strip()
    if len(url) > URL_MAX:
        raise invalid(f"The address is longer than {URL_MAX} characters.")
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise invalid("The address contains spaces, invisible characters or backslashes, "
                      "which a web address cannot have.")
    parts = _URL.fullmatch(url)
    scheme, netloc = (parts["scheme"] or "").lower(), parts["netloc"] or ""
    if scheme not in ("http", "https"):
        raise invalid(f"Photos can only be fetched from addresses starting with http:// or "
                      f"https://, not {quoted(scheme)}:." if scheme else "Please give the photo's "
                      "full address, starting with http:// or https://.")
    if "@" in netloc:
        raise invalid("Addresses with a user name or password (user:pass@) are not accepted.")
    hostport = _NETLOC.fullmatch(netloc)
    if not hostport:
        raise invalid(f"The host and port in the address ({quoted(netloc)}) could not be read.")
    if hostport["host"] in ("", "[]"):
        raise invalid("The address has no host name; give a full address such as "
                      "https://example.com/photo.jpg.")
    port = int(hostport["port"] or (443 if scheme == "https" else 80))
    if not 1 <= port <= 65535:
        raise invalid("The port in the address must be a number from 1 to 65535.")
    host, literal = _host(hostport["host"].lower())
    path = quote(parts["path"] or "/", safe=_SAFE)
    if parts["query"]:
        path += "?" + quote(parts["query"], safe=_SAFE)
    return Target(url, scheme == "https", host, port, path, literal)


def _host(host: str) -> tuple[str, Address | None]:
    """The host as resolved, and its address when it is one."""
    if host.startswith("["):
        try:
            if "%" in host:  # a zone id (%eth0) only names a link-local interface
                raise ValueError
            ip = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise invalid(f"{quoted(host)} is not a valid IPv6 address.") from None
        return host[1:-1], ip
    if not host.isascii():  # UTS 46 maps ＦＵＬＬＷＩＤＴＨ and "。" before the checks below
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise invalid(f"{quoted(host)} is not a valid host name.") from None
    bare = host.removesuffix(".")
    if _ENDS_IN_NUMBER.fullmatch(bare):
        try:
            ip = ipaddress.IPv4Address(bare)  # four decimal numbers only, no leading zeros
        except ValueError:
            raise invalid(f"The host {quoted(bare)} is a numeric address in an unusual form; "
                          "write it as four decimal numbers (such as 93.184.215.14) or use a "
                          "host name.") from None
        return bare, ip
    if len(bare) > 253 or not _HOSTNAME.fullmatch(bare):
        raise invalid(f"{quoted(host)} is not a valid host name.")
    return host, None
