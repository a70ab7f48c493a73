"""Photos by URL over real HTTP: a server on loopback (tests/photo_server.py), allowed by
`allowed_networks` the way an operator allows a private network, answering with photos,
redirects, errors, bodies that are too large, and trickles. Timings are asserted only where
the fetch promises a deadline, with a second to spare. https: test_fetching_tls.py."""

from __future__ import annotations

import time

import pytest

from app.core.fetching import USER_AGENT
from app.images.decoding import probe
from tests.photo_server import (
    ONLY_127_0_0_1,
    PHOTO,
    Handler,
    Resolver,
    get,
    refused,
)
from tests.servers import free_port

pytestmark = pytest.mark.alone


@pytest.fixture(autouse=True)
def fresh_log():
    Handler.seen = []


def test_a_photo_is_fetched_whole_and_passes_the_upload_checks(photo_server):
    data = get(f"{photo_server}/photo")
    assert data == PHOTO
    assert (probe(data, 50_000_000).format, probe(data, 50_000_000).width) == ("JPEG", 451)
    ((path, headers),) = Handler.seen
    assert path == "/photo"
    assert headers["Host"] == photo_server.removeprefix("http://")
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Accept-Encoding"] == "identity"
    assert not {"Cookie", "Authorization"} & set(headers)


def test_the_connection_goes_to_the_checked_address_with_the_name_in_host(photo_server):
    port = photo_server.rsplit(":", 1)[1]
    resolver = Resolver("127.0.0.1", "10.0.0.1")  # a second lookup would be refused
    assert get(f"http://photos.test:{port}/photo", resolver=resolver,
               allowed_networks=ONLY_127_0_0_1) == PHOTO
    assert resolver.calls == 1
    assert [(path, headers["Host"]) for path, headers in Handler.seen] == [
        ("/photo", f"photos.test:{port}")]


def test_each_redirect_is_looked_up_once(photo_server):
    port = photo_server.rsplit(":", 1)[1]
    resolver = Resolver("127.0.0.1")
    assert get(f"http://photos.test:{port}/hops/2", resolver=resolver) == PHOTO
    assert resolver.calls == 3
    assert [(path, headers["Host"]) for path, headers in Handler.seen] == [
        ("/hops/2", f"photos.test:{port}"), ("/hops/1", f"photos.test:{port}"),
        ("/photo", f"photos.test:{port}")]


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_up_to_three_redirects_are_followed(photo_server, hops):
    assert get(f"{photo_server}/hops/{hops}") == PHOTO
    assert [path for path, _ in Handler.seen] == [
        *(f"/hops/{n}" for n in range(hops, 0, -1)), "/photo"]


def test_the_fourth_redirect_is_refused(photo_server):
    error = refused(f"{photo_server}/hops/4")
    assert (error.code, error.kind, error.message) == (
        "url_failed", "invalid", "The address redirected 4 times; at most 3 redirects are "
                                "followed.")
    assert len(Handler.seen) == 4  # the photo itself was never asked for


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_every_redirect_status_is_followed_with_an_absolute_location(photo_server, status):
    assert get(f"{photo_server}/to/{status}/{photo_server}/photo") == PHOTO


def test_a_utf8_location_is_followed_to_the_path_it_names(photo_server):
    assert get(f"{photo_server}/utf8-location") == PHOTO
    assert [path for path, _ in Handler.seen] == ["/utf8-location", "/fot%C3%B3"]


def test_a_redirect_to_an_address_not_allowed_is_refused_before_connecting(photo_server):
    port = photo_server.rsplit(":", 1)[1]
    target = f"http://127.0.0.2:{port}/photo"
    error = refused(f"{photo_server}/to/302/{target}", allowed_networks=ONLY_127_0_0_1)
    assert (error.code, error.kind, error.message) == (
        "url_refused", "invalid", "Photos can only be fetched from public addresses; "
        f"127.0.0.2 is a loopback address (after a redirect to {target}).")
    assert [path for path, _ in Handler.seen] == [f"/to/302/{target}"]


@pytest.mark.parametrize(("location", "code", "message"), [
    ("file:///etc/passwd", "invalid_url", "Photos can only be fetched from addresses starting "
     "with http:// or https://, not file: (after a redirect to file:///etc/passwd)."),
    ("http://169.254.169.254/latest/meta-data/", "url_refused", "Photos can only be fetched "
     "from public addresses; 169.254.169.254 is the cloud metadata service's address (after "
     "a redirect to http://169.254.169.254/latest/meta-data/)."),
    ("http://metadata.google.internal/", "url_refused", "Photos can only be fetched from "
     "public addresses; metadata.google.internal is the cloud metadata service (after a "
     "redirect to http://metadata.google.internal/)."),
])
def test_a_redirect_is_checked_like_the_first_address(photo_server, location, code, message):
    error = refused(f"{photo_server}/to/302/{location}")
    assert (error.code, error.message) == (code, message)


def test_a_redirect_without_a_location_is_refused(photo_server):
    error = refused(f"{photo_server}/to/302/")
    assert (error.code, error.message) == (
        "url_failed", "The address answered 302 Found without saying where the photo moved.")


@pytest.mark.parametrize(("status", "message"), [
    (404, "The address answered 404 Not Found."),
    (500, "The address answered 500 Internal Server Error."),
    (403, "The address answered 403 Forbidden."),
    (304, "The address answered 304 Not Modified."),
    (599, "The address answered 599."),
])
def test_an_answer_other_than_2xx_is_refused_with_its_status(photo_server, status, message):
    error = refused(f"{photo_server}/status/{status}")
    assert (error.code, error.kind, error.message) == ("url_failed", "invalid", message)


def test_a_content_length_over_the_limit_is_refused_without_reading_the_body(photo_server):
    # The server sends no body and waits: reading would end in a timeout, not this.
    error = refused(f"{photo_server}/big", read_timeout=5, timeout=10)
    assert (error.code, error.kind, error.message) == (
        "too_large", "too_large", "The photo at that address is 3 MB; the largest accepted "
                                  "is 1 MB.")


@pytest.mark.parametrize("framing", ["plain", "chunked"])
def test_a_body_without_a_length_is_stopped_past_the_limit(photo_server, framing):
    error = refused(f"{photo_server}/endless/{framing}", timeout=30)
    assert (error.code, error.message) == (
        "too_large", "The photo at that address is larger than 1 MB, the largest accepted.")


def test_a_body_shorter_than_its_length_is_refused(photo_server):
    error = refused(f"{photo_server}/short")
    assert (error.code, error.message) == (
        "url_failed", "127.0.0.1 broke off or did not answer with valid HTTP.")


def test_a_compressed_answer_is_refused_not_decompressed(photo_server):
    error = refused(f"{photo_server}/gzip")
    assert (error.code, error.message) == (
        "url_failed", "127.0.0.1 sent the photo compressed (gzip) although it was asked not to.")


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_trickle_is_cut_by_the_deadline(photo_server, part):
    """A byte every 0.2 s never trips a 1 s read timeout; the deadline still holds."""
    started = time.monotonic()
    error = refused(f"{photo_server}/trickle/{part}", read_timeout=1, timeout=2)
    elapsed = time.monotonic() - started
    assert (error.code, error.kind, error.message) == (
        "url_timeout", "invalid", "The photo could not be fetched within 2 seconds.")
    assert 1.9 <= elapsed < 3


def test_the_deadline_covers_the_redirects(photo_server):
    started = time.monotonic()
    error = refused(f"{photo_server}/slow-hops/3", read_timeout=1.5, timeout=2)
    elapsed = time.monotonic() - started
    assert error.code == "url_timeout"
    assert error.message.startswith("The photo could not be fetched within 2 seconds (after "
                                    f"a redirect to {photo_server}/slow-hops/")
    assert 1.9 <= elapsed < 3


def test_a_server_that_never_answers_hits_the_read_timeout(photo_server):
    started = time.monotonic()
    error = refused(f"{photo_server}/silent", read_timeout=1, timeout=10)
    elapsed = time.monotonic() - started
    assert (error.code, error.kind, error.message) == (
        "url_timeout", "invalid", "127.0.0.1 sent nothing for 1 second.")
    assert 0.9 <= elapsed < 2


def test_a_closed_port_is_unavailable():
    port = free_port()
    error = refused(f"http://127.0.0.1:{port}/photo")
    assert (error.code, error.kind, error.message) == (
        "url_unavailable", "invalid", f"127.0.0.1 refused the connection on port {port}.")
