"""Photos by URL over https: a certificate for photos.test from a CA made for the test
(trustme) shows that SNI and the certificate check use the URL's name while the socket goes
to the address that was checked."""

from __future__ import annotations

import ssl
import time

import pytest
import trustme

from tests.photo_server import (
    ONLY_127_0_0_1,
    PHOTO,
    RELEASE,
    Handler,
    Resolver,
    get,
    refused,
    serve,
)

pytestmark = pytest.mark.alone


@pytest.fixture(autouse=True)
def fresh_log():
    Handler.seen = []


@pytest.fixture(scope="module")
def tls_server():
    """https on loopback with a certificate for photos.test from a CA made for the test;
    records the name each client asked for (SNI)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("photos.test", "127.0.0.1").configure_cert(context)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    RELEASE.clear()
    server = serve(context)
    with ca.cert_pem.tempfile() as ca_file:
        yield server.server_address[1], ca_file, names
    RELEASE.set()
    server.shutdown()
    server.server_close()


def test_https_connects_to_the_checked_address_and_verifies_the_name(tls_server):
    port, ca_file, names = tls_server
    names.clear()
    resolver = Resolver("127.0.0.1", "10.0.0.1")
    assert get(f"https://photos.test:{port}/photo", resolver=resolver, ca_certs=ca_file,
               allowed_networks=ONLY_127_0_0_1) == PHOTO
    assert resolver.calls == 1
    assert names == ["photos.test"]
    assert Handler.seen[-1][1]["Host"] == f"photos.test:{port}"
    # An address in the URL: no SNI (TLS forbids addresses there), the certificate's IP entry.
    assert get(f"https://127.0.0.1:{port}/photo", ca_certs=ca_file) == PHOTO


def test_https_refuses_a_certificate_for_another_name(tls_server):
    port, ca_file, names = tls_server
    names.clear()
    error = refused(f"https://other.test:{port}/photo", resolver=Resolver("127.0.0.1"),
                    ca_certs=ca_file)
    assert (error.code, error.kind, error.message) == (
        "url_failed", "invalid", "The certificate of other.test could not be verified: it was "
                                "made for another name.")
    assert names == ["other.test"]


def test_https_refuses_a_certificate_from_an_authority_not_trusted(tls_server):
    port, _, _ = tls_server
    error = refused(f"https://photos.test:{port}/photo", resolver=Resolver("127.0.0.1"))
    assert (error.code, error.message) == (
        "url_failed", "The certificate of photos.test could not be verified: it is not signed "
                      "by an authority we trust.")


def test_https_trickle_is_cut_by_the_deadline_too(tls_server):
    """The deadline cuts a TLS socket under a reader as it cuts a plain one."""
    port, ca_file, _ = tls_server
    started = time.monotonic()
    error = refused(f"https://photos.test:{port}/trickle/headers", ca_certs=ca_file,
                    resolver=Resolver("127.0.0.1"), read_timeout=1, timeout=2)
    elapsed = time.monotonic() - started
    assert (error.code, error.message) == (
        "url_timeout", "The photo could not be fetched within 2 seconds.")
    assert 1.9 <= elapsed < 3
