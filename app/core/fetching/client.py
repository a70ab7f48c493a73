"""The fetch itself: resolve once, check every address, connect to a checked one, follow
redirects by hand, stream a capped body, all within one deadline.

urllib3's connection classes are used directly, below its pools and PoolManager: they take
the address to connect to and the name for TLS separately, read no proxy or .netrc from the
environment, keep no cookies and follow nothing by themselves.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

from app.core.errors import Rejected, human_size
from app.core.fetching.addresses import (
    METADATA_NAMES,
    Address,
    Network,
    plain,
    refusal,
    shown,
)
from app.core.fetching.codes import refused
from app.core.fetching.deadline import Deadline, seconds
from app.core.fetching.targets import Target, invalid, parse, quoted

log = logging.getLogger(__name__)

USER_AGENT = "image-background-processor/2 (fetches the photo a visitor linked to)"
PUBLIC_ONLY = "Photos can only be fetched from public addresses"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# OpenSSL's X509_V_ERR_* codes, said for people.
_CERTIFICATE_ERRORS = {10: "it has expired", 9: "it is not valid yet",
                       62: "it was made for another name",
                       **dict.fromkeys((18, 19, 20), "it is not signed by an authority we trust")}
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


@dataclass(frozen=True)
class _Options:
    max_bytes: int
    allowed: tuple[Network, ...]
    connect_timeout: float
    read_timeout: float
    resolver: Callable
    ca_certs: str | None


EMPTY = "The address answered with nothing: an empty body, where a photo was expected."
# Just over TCP's 3 s wait before it sends a lost SYN again, so one lost packet does not
# fail the connection (requests' advice); the RapidAPI engine's default too.
CONNECT_TIMEOUT = 3.05
# The longest silence between a photo's bytes, within the whole fetch's timeout.
READ_TIMEOUT = 10.0


def fetch(url: str, *, max_bytes: int, allowed_networks: tuple[Network, ...] = (),
          connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
          timeout: float = 15.0,
          max_redirects: int = 3, resolver: Callable = socket.getaddrinfo,
          ca_certs: str | None = None) -> bytes:
    """The body `url` answers with (at most `max_bytes`), or `Rejected`. `read_timeout`
    bounds each wait for bytes, `timeout` the whole fetch, redirects included; `resolver`
    is called like socket.getaddrinfo; `ca_certs` is a PEM bundle to trust instead of
    certifi's (a private CA)."""
    options = _Options(max_bytes, tuple(allowed_networks), connect_timeout, read_timeout,
                       resolver, ca_certs)
    deadline = Deadline(timeout)
    try:
        for hops in range(max_redirects + 1):
            try:
                target = parse(url)
                location, body = _get(target, options, deadline)
            except Rejected as exc:
                if hops == 0:
                    raise
                raise Rejected(exc.code, f"{exc.message.removesuffix('.')} (after a redirect "
                                         f"to {quoted(url)}).", exc.kind) from exc
            if location is None:
                if not body:  # else told "the file is empty", of a file never chosen
                    raise refused("url_failed", EMPTY)
                return body
            try:
                url = urljoin(target.url, location)
            except ValueError:  # urljoin's own checks; parse() says what is wrong
                url = location
        raise refused("url_failed", f"The address redirected {max_redirects + 1} times; at "
                                    f"most {max_redirects} redirects are followed.")
    finally:
        deadline.stop()


def _text(header: str) -> str:
    """A header as sent: http.client decodes latin-1, servers send Location in UTF-8."""
    try:
        return header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return header


def _get(target: Target, options: _Options, deadline: Deadline):
    """One request: (the redirect's Location, None) or (None, the body)."""
    conn = _connect(target, _addresses(target, options, deadline), options, deadline)
    response = None
    try:
        deadline.check()
        deadline.watch(conn.sock)
        conn.timeout = min(options.read_timeout, max(deadline.left(), 0.01))
        conn.request("GET", target.path, headers={
            "Host": target.host_header, "User-Agent": USER_AGENT,
            "Accept": "image/jpeg, image/png, image/webp, image/*;q=0.8",
            "Accept-Encoding": "identity", "Connection": "close"},
            preload_content=False, decode_content=False)
        response = conn.getresponse()
        status = response.status
        phrase = http.client.responses.get(status, "")
        answered = f"The address answered {status} {phrase}".rstrip()
        if status in _REDIRECTS:
            if not response.headers.get("Location"):
                raise refused("url_failed", f"{answered} without saying where the photo "
                                            "moved.")
            return _text(response.headers["Location"]), None
        if not 200 <= status < 300:
            raise refused("url_failed", f"{answered}.")
        return None, _body(response, target, options.max_bytes, deadline)
    except Rejected:
        raise
    except Exception as exc:
        deadline.check()  # a cut connection fails in many ways: the deadline is the reason
        if isinstance(exc, (ReadTimeoutError, TimeoutError)):
            raise refused("url_timeout", f"{target.name} sent nothing for "
                                         f"{seconds(options.read_timeout)}.") from exc
        if isinstance(exc, (HTTPError, http.client.HTTPException, OSError)):
            raise refused("url_failed", f"{target.name} broke off or did not answer with "
                                        "valid HTTP.") from exc
        raise
    finally:
        deadline.close(response, conn)


def _addresses(target: Target, options: _Options, deadline: Deadline) -> list[Address]:
    """The host's addresses, looked up once, every one allowed."""
    if target.name in METADATA_NAMES:
        raise refused("url_refused", f"{PUBLIC_ONLY}; {target.name} is the cloud metadata "
                                     "service.")
    literal = target.literal
    addresses = [plain(literal)] if literal else _resolve(target, options, deadline)
    for ip in addresses:
        what = refusal(ip, options.allowed)
        if what:
            if not literal:
                # The address itself for the operator alone: told to the sender, the
                # server's resolver would map the names of its own network (helper 76).
                log.info("Refused %s: it resolves to %s", target.name, ip)
            said = (f"{shown(literal)} is {what}" if literal else
                    f"{target.name} resolves to {what}")
            raise refused("url_refused", f"{PUBLIC_ONLY}; {said}.")
    return addresses


def _resolve(target: Target, options: _Options, deadline: Deadline) -> list[Address]:
    answer: dict = {}

    def ask():  # in a thread: getaddrinfo cannot be interrupted, and the deadline must hold
        try:
            answer["infos"] = options.resolver(target.host, target.port, 0, socket.SOCK_STREAM)
        except Exception as exc:
            answer["error"] = exc

    thread = threading.Thread(target=ask, name="fetch-dns", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(max(deadline.left(), 0))
        deadline.check()
    error = answer.get("error")
    if isinstance(error, socket.gaierror) and error.errno in _NO_SUCH_NAME:
        raise invalid(f"No host named {target.name} was found.")
    if isinstance(error, OSError):
        raise refused("url_unavailable", f"{target.name} could not be looked up right now; "
                                         "please try again later.")
    if error is not None:
        raise error
    found = list(dict.fromkeys(plain(ipaddress.ip_address(sockaddr[0]))
                               for *_, sockaddr in answer["infos"]))
    if not found:
        raise invalid(f"No host named {target.name} was found.")
    return found


def _connect(target: Target, addresses: list[Address], options: _Options,
             deadline: Deadline) -> HTTPConnection:
    """A connection to the first of the checked addresses that accepts one."""
    failure = None
    for ip in addresses:
        deadline.check()
        wait = min(options.connect_timeout, deadline.left())
        if target.https:  # SNI and the certificate check use the name, the socket the address
            conn = HTTPSConnection(str(ip), target.port, timeout=wait,
                                   server_hostname=target.name, cert_reqs="CERT_REQUIRED",
                                   ca_certs=options.ca_certs or certifi.where())
        else:
            conn = HTTPConnection(str(ip), target.port, timeout=wait)
        try:
            conn.connect()
            return conn
        except (ConnectTimeoutError, OSError) as exc:  # NewConnectionError, SSLError too
            conn.close()
            if isinstance(exc, ssl.SSLCertVerificationError):
                why = _CERTIFICATE_ERRORS.get(exc.verify_code, "it is not valid")
                raise refused("url_failed", f"The certificate of {target.name} could not be "
                                            f"verified: {why}.") from exc
            if isinstance(exc, ssl.SSLError):
                raise refused("url_failed", f"No secure connection to {target.name} could be "
                                            "made.") from exc
            cause = exc.__cause__ or exc
            if isinstance(cause, TimeoutError):
                failure = refused("url_timeout", f"{target.name} did not accept a connection "
                                                 f"within {seconds(options.connect_timeout)}.")
            elif getattr(cause, "errno", None) == errno.ECONNREFUSED:
                failure = refused("url_unavailable", f"{target.name} refused the connection "
                                                     f"on port {target.port}.")
            else:
                failure = refused("url_unavailable", f"{target.name} could not be reached.")
    deadline.check()
    raise failure


_LENGTH_DIGITS = 18  # a Content-Length of more digits is read as too large, unparsed


def _body(response, target: Target, max_bytes: int, deadline: Deadline) -> bytes:
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":  # we asked for identity; decoding would let a bomb through
        raise refused("url_failed", f"{target.name} sent the photo compressed "
                                    f"({quoted(encoding)[:30]}) although it was asked not to.")
    limit = human_size(max_bytes)
    too_large = refused("too_large", f"The photo at that address is larger than {limit}, "
                                     "the largest accepted.")
    declared = (response.headers.get("Content-Length") or "").strip()
    if declared.isascii() and declared.isdigit():
        if len(declared) > _LENGTH_DIGITS:  # past an exabyte: int() and human_size() balk
            raise too_large
        if int(declared) > max_bytes:
            size = human_size(int(declared))
            raise too_large if size == limit else refused(
                "too_large",
                f"The photo at that address is {size}; the largest accepted is {limit}.")
    body = bytearray()
    while chunk := response.read1(_CHUNK):  # read1: returns as soon as any bytes arrive
        body += chunk
        if len(body) > max_bytes:
            raise too_large
        deadline.check()
    deadline.check()  # a cut connection ends a body without a length like a finished one
    return bytes(body)
