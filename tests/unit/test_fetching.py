"""Photos by URL, the addresses: every refusal with its code and sentence, with a fake
resolver (no DNS) and, where a connection is tried, a socket that records where it would
connect and is refused (no network). The URLs themselves: test_fetching_urls.py; the real
HTTP path: tests/system/test_fetching_live.py."""

from __future__ import annotations

import ipaddress
import socket
import threading

import pytest

from app.core.fetching import CODES, parse_networks
from app.core.fetching.addresses import describe
from tests.fake_network import Resolver, refused

PUBLIC_ONLY = "Photos can only be fetched from public addresses"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def connects(monkeypatch):
    """Where sockets try to connect; every attempt is refused, as by a closed port."""
    tried = []

    def connect(sock, address):
        tried.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


@pytest.mark.parametrize(("url", "said"), [
    ("http://10.0.0.5/", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/a.jpg", "172.16.3.4 is a private address"),
    ("https://192.168.1.1/", "192.168.1.1 is a private address"),
    ("http://[fd12::1]/", "fd12::1 is a private address"),
    ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.8.9.10:8080/", "127.8.9.10 is a loopback address"),
    ("http://[::1]/", "::1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/",
     "169.254.169.254 is the cloud metadata service's address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254 is the cloud metadata service's address"),
    ("http://169.254.10.1/", "169.254.10.1 is a link-local address"),
    ("http://[fe80::1]/", "fe80::1 is a link-local address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address"),
    ("http://[::ffff:a9fe:a9fe]/",
     "::ffff:169.254.169.254 is the cloud metadata service's address"),
    ("http://[::ffff:10.1.2.3]/", "::ffff:10.1.2.3 is a private address"),
    ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("http://224.0.1.1/", "224.0.1.1 is a multicast address"),  # is_global says True
    ("http://[ff0e::1]/", "ff0e::1 is a multicast address"),  # is_global says True
    ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("http://255.255.255.255/", "255.255.255.255 is a reserved address"),
    ("http://[fec0::1]/", "fec0::1 is a reserved address"),  # is_global says True
    ("http://192.0.0.9/", "192.0.0.9 is a reserved address"),
    ("http://[2001:20::1]/", "2001:20::1 is a reserved address"),  # global on 3.13 only
    ("http://[::127.0.0.1]/", "::7f00:1 is a special-purpose address, not a public one"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("http://0.1.2.3/", "0.1.2.3 is an unspecified address"),
    ("http://[::]/", ":: is an unspecified address"),
    ("http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"),
    ("http://100.127.255.254/", "100.127.255.254 is a carrier-grade NAT address"),
    ("http://192.0.2.10/", "192.0.2.10 is a documentation or benchmarking address"),
    ("http://198.18.0.1/", "198.18.0.1 is a documentation or benchmarking address"),
    ("http://[2001:db8::1]/", "2001:db8::1 is a documentation or benchmarking address"),
    ("http://[2002:7f00:1::]/", "2002:7f00:1:: is a 6to4 or Teredo tunnel address"),
    ("http://[2002:5db8:d70e::]/", "2002:5db8:d70e:: is a 6to4 or Teredo tunnel address"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
     "2001:0:4136:e378:8000:63bf:3fff:fdd2 is a 6to4 or Teredo tunnel address"),
    ("http://[64:ff9b::7f00:1]/",
     "64:ff9b::7f00:1 is a NAT64 address for 127.0.0.1, a loopback address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe is a NAT64 address for "
                                     "169.254.169.254, the cloud metadata service's address"),
    ("http://１２７.０.０.１/", "127.0.0.1 is a loopback address"),  # fullwidth, UTS 46
    ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
    ("HTTP://10.0.0.5:65535/x?y#z", "10.0.0.5 is a private address"),
])
def test_an_address_that_is_not_public_is_refused_without_a_lookup(url, said):
    resolver = Resolver(["93.184.215.14"])
    error = refused(url, resolver)
    assert (error.code, error.message) == ("url_refused", f"{PUBLIC_ONLY}; {said}.")
    assert resolver.calls == []


@pytest.mark.parametrize(("answer", "said"), [
    (["10.0.0.5"], "resolves to a private address"),
    (["127.0.0.1"], "resolves to a loopback address"),
    (["169.254.169.254"], "resolves to the cloud metadata service's address"),
    (["::ffff:169.254.169.254"],
     "resolves to the cloud metadata service's address"),
    (["fe80::1%1"], "resolves to a link-local address"),
    (["100.64.1.1"], "resolves to a carrier-grade NAT address"),
    (["239.255.255.250"], "resolves to a multicast address"),
    (["0.0.0.0"], "resolves to an unspecified address"),  # noqa: S104
    # Every answer counts: one private address among public ones is enough to refuse.
    (["93.184.215.14", "10.0.0.5"], "resolves to a private address"),
    (["2606:4700::1111", "::1"], "resolves to a loopback address"),
])
def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(answer, said, connects,
                                                                   caplog):
    """Said by its kind: the address itself is the operator's to read, in the log, not
    the sender's (it would map the names of the server's own network: helper 76)."""
    resolver = Resolver(answer)
    with caplog.at_level("INFO", "app.core.fetching.client"):
        error = refused("https://photos.example/cat.jpg", resolver)
    assert not any(ip in error.message for ip in answer)
    assert len(caplog.records) == 1 and caplog.records[0].args[0] == "photos.example"
    assert (error.code, error.message) == (
        "url_refused", f"{PUBLIC_ONLY}; photos.example {said}.")
    assert resolver.calls == [("photos.example", 443)]
    assert connects == []


@pytest.mark.parametrize("url", [
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.Google.Internal./computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "https://metadata.google.internal:8443/",
])
def test_the_metadata_service_is_refused_by_name_before_any_lookup(url):
    resolver = Resolver(["93.184.215.14"])
    error = refused(url, resolver, allowed_networks=(ipaddress.ip_network("0.0.0.0/0"),))
    name = "metadata" if "//metadata/" in url else "metadata.google.internal"
    assert (error.code, error.message) == (
        "url_refused", f"{PUBLIC_ONLY}; {name} is the cloud metadata service.")
    assert resolver.calls == []


def test_allowed_networks_let_a_private_address_through_but_never_the_metadata_service(
        connects):
    resolver = Resolver(["127.0.0.1"])
    error = refused("http://photos.internal:8000/a.jpg", resolver, allowed_networks=LOOPBACK)
    # The check passed: the fetch went as far as connecting, to the address it checked.
    assert (error.code, error.message) == (
        "url_unavailable", "photos.internal refused the connection on port 8000.")
    assert connects == [("127.0.0.1", 8000)]
    assert refused("http://127.0.0.2/", allowed_networks=LOOPBACK).code == "url_unavailable"

    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    error = refused("http://169.254.169.254/", allowed_networks=everything)
    assert error.message == (f"{PUBLIC_ONLY}; 169.254.169.254 is the cloud metadata "
                             "service's address.")
    error = refused("http://10.0.0.5/", allowed_networks=LOOPBACK)
    assert error.message == f"{PUBLIC_ONLY}; 10.0.0.5 is a private address."
    assert connects == [("127.0.0.1", 8000), ("127.0.0.2", 80)]


def test_the_connection_goes_to_the_address_that_was_checked(connects):
    """DNS rebinding: a second lookup could answer 127.0.0.1; there is no second lookup."""
    resolver = Resolver(["93.184.215.14"], ["127.0.0.1"])
    error = refused("http://photos.example/cat.jpg", resolver)
    assert (error.code, error.message) == (
        "url_unavailable", "photos.example refused the connection on port 80.")
    assert resolver.calls == [("photos.example", 80)]
    assert connects == [("93.184.215.14", 80)]


@pytest.mark.parametrize(("failure", "code", "message"), [
    (TimeoutError("timed out"), "url_timeout",
     "photos.example did not accept a connection within 3.05 seconds."),
    (OSError(101, "Network is unreachable"), "url_unavailable",
     "photos.example could not be reached."),
])
def test_a_connection_that_fails_says_how(monkeypatch, failure, code, message):
    def connect(sock, address):
        raise failure

    monkeypatch.setattr(socket.socket, "connect", connect)
    error = refused("http://photos.example/", Resolver(["93.184.215.14"]))
    assert (error.code, error.message) == (code, message)


def test_each_checked_address_is_tried_in_turn(connects):
    resolver = Resolver(["2606:4700::1111", "93.184.215.14", "::ffff:93.184.215.15"])
    error = refused("https://photos.example:8443/", resolver)
    assert error.message == "photos.example refused the connection on port 8443."
    assert connects == [("2606:4700::1111", 8443, 0, 0), ("93.184.215.14", 8443),
                        ("93.184.215.15", 8443)]
    assert len(resolver.calls) == 1


@pytest.mark.parametrize(("error", "code", "message"), [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "invalid_url",
     "No host named photos.example was found."),
    (socket.gaierror(socket.EAI_NODATA, "No address associated with hostname"),
     "invalid_url", "No host named photos.example was found."),
    (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
     "url_unavailable", "photos.example could not be looked up right now; please try again "
                        "later."),
    ([], "invalid_url", "No host named photos.example was found."),
])
def test_a_failed_lookup_says_so(error, code, message):
    resolver = Resolver(error)
    found = refused("http://photos.example/cat.jpg", resolver)
    assert (found.code, found.message) == (code, message)
    assert resolver.calls == [("photos.example", 80)]


def test_a_lookup_that_hangs_is_cut_by_the_deadline():
    release = threading.Event()

    def hanging(*args):
        release.wait(30)
        return []

    try:
        error = refused("http://photos.example/", hanging, timeout=0.3)
    finally:
        release.set()
    assert (error.code, error.message) == (
        "url_timeout", "The photo could not be fetched within 0.3 seconds.")


def test_allowed_networks_setting_is_read_strictly():
    assert parse_networks("") == ()
    assert parse_networks(" 10.0.0.0/8, fd00::/8 ,127.0.0.1") == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("127.0.0.1/32"))
    with pytest.raises(ValueError) as caught:
        parse_networks("10.0.0.1/8")
    assert str(caught.value) == ("comma-separated networks such as 10.0.0.0/8, fd00::/8 "
                                 "(10.0.0.1/8 has host bits set)")
    with pytest.raises(ValueError, match=r"\('intranet' does not appear"):
        parse_networks("10.0.0.0/8, intranet")


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111",
                                     "2a00:1450:4001:80b::200e", "::ffff:93.184.215.14",
                                     "64:ff9b::5db8:d70e", "1.1.1.1"])
def test_public_addresses_are_public(address):
    assert describe(ipaddress.ip_address(address)) is None


def test_every_code_has_a_kind_the_http_layer_knows():
    from app.core.errors import KINDS

    assert set(CODES) == {"invalid_url", "url_refused", "url_failed", "url_unavailable",
                          "url_timeout", "too_large"}
    assert {kind for kind, _ in CODES.values()} <= set(KINDS)
