"""Photos by address over real HTTP on loopback, in-process (tests/photo_server.py): the
body's size limit to the byte with and without Content-Length, the redirect limit, and the
whole fetch's deadline. The rest of the real path: tests/system/test_fetching_live.py."""

from __future__ import annotations

import pytest

from app.core.fetching.client import EMPTY
from tests.photo_server import LIMIT, PHOTO, get, refused

TOO_LARGE = "The photo at that address is larger than 1 MB, the largest accepted."


@pytest.mark.parametrize("framing", ["plain", "chunked"])
def test_a_body_without_a_length_may_be_exactly_the_limit(photo_server, framing):
    assert get(f"{photo_server}/sized/{LIMIT}/{framing}") == b"\xff" * LIMIT


@pytest.mark.parametrize("framing", ["plain", "chunked"])
def test_a_body_without_a_length_one_byte_past_the_limit_is_refused(photo_server, framing):
    error = refused(f"{photo_server}/sized/{LIMIT + 1}/{framing}")
    assert (error.code, error.kind, error.message) == ("too_large", "too_large", TOO_LARGE)


def test_a_length_one_byte_past_the_limit_is_refused_before_the_body(photo_server):
    # The server sends no body and waits: reading it would end in the deadline instead.
    error = refused(f"{photo_server}/declared/{LIMIT + 1}", read_timeout=30, timeout=30)
    assert (error.code, error.kind, error.message) == ("too_large", "too_large", TOO_LARGE)


@pytest.mark.parametrize("digits, said", [
    (18, "The photo at that address is 909495 TB; the largest accepted is 1 MB."),
    (19, TOO_LARGE), (400, TOO_LARGE), (1500, TOO_LARGE)])
def test_a_length_of_any_number_of_digits_is_too_large_not_a_500(photo_server, digits, said):
    """309 digits and more made human_size's float overflow (and 4,301 would pass int()'s
    limit): a 500 (helper 67). An address holds no more than 1500."""
    error = refused(f"{photo_server}/declared/{'9' * digits}", read_timeout=30, timeout=30)
    assert (error.code, error.kind, error.message) == ("too_large", "too_large", said)


@pytest.mark.parametrize("hops", [1, 3])
def test_up_to_three_redirects_are_followed(photo_server, hops):
    assert get(f"{photo_server}/hops/{hops}") == PHOTO


def test_the_fourth_redirect_is_refused(photo_server):
    error = refused(f"{photo_server}/hops/4")
    assert (error.code, error.kind, error.message) == (
        "url_failed", "invalid", "The address redirected 4 times; at most 3 redirects are "
                                 "followed.")


def test_a_redirect_limit_of_zero_follows_none(photo_server):
    error = refused(f"{photo_server}/hops/1", max_redirects=0)
    assert error.message == ("The address redirected 1 times; at most 0 redirects are "
                             "followed.")


def test_the_whole_fetch_has_a_deadline_shorter_than_its_read_timeout(photo_server):
    """A silent server: the read timeout (30 s) never comes, the deadline (0.5 s) does."""
    error = refused(f"{photo_server}/silent", read_timeout=30, timeout=0.5)
    assert (error.code, error.kind, error.message) == (
        "url_timeout", "invalid", "The photo could not be fetched within 0.5 seconds.")


@pytest.mark.parametrize("framing", ["plain", "chunked"])
def test_an_empty_answer_is_said_so(photo_server, framing):
    error = refused(f"{photo_server}/sized/0/{framing}")
    assert (error.code, error.kind, error.message) == ("url_failed", "invalid", EMPTY)
