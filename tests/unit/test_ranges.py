"""Conditional and range requests for image bytes, on both doors: what RFC 9110 says to
ignore is ignored (200, the whole image), a failed If-Match or an unsatisfiable range is
the app's error answer, never the image."""

import pytest
from flask import Flask

from app.http.limits import RATE_HEADERS
from tests.support import API, assert_error

PRECONDITION_FAILED = ("The image is not the version named in If-Match: fetch it again "
                       "without If-Match.")
NOT_SATISFIABLE = ("None of the range asked for is in the image (its length is in "
                   "Content-Range): ask for bytes within it, or without Range.")
# RFC 9110 §14.2: a unit other than bytes, or a Range that cannot be read, is ignored;
# several ranges too, as Werkzeug answers no multipart/byteranges.
IGNORED = ["foo", "items=0-5", "bytes=abc", "bytes=10-5", "bytes=0-1,5-6", "bytes=",
           "bytes=-", "bytes=0-9,", "bytes=１-9", "bytes=0-" + "9" * 5000]


@pytest.fixture(params=["page", "api", "page thumbnail", "api thumbnail"])
def url(request, record_id):
    base = {"page": "/images", "api": f"{API}/records"}[request.param.split()[0]]
    middle = "" if base == "/images" else "/images"
    size = "/160" if request.param.endswith("thumbnail") else ""
    return f"{base}/{record_id}{middle}/processed{size}"


@pytest.fixture
def whole(visitor, url):
    response = visitor.client.get(url)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("header", IGNORED)
def test_a_range_to_ignore_gets_the_whole_image(visitor, url, whole, header):
    response = visitor.client.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert response.data == whole.data
    assert response.headers["Content-Length"] == str(len(whole.data))
    assert "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=0-9", "Bytes = 0 - 9", "bytes=00-009"])
def test_one_range_gets_those_bytes(visitor, url, whole, header):
    response = visitor.client.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.data == whole.data[:10]
    assert response.headers["Content-Range"] == f"bytes 0-9/{len(whole.data)}"
    assert response.headers["Content-Length"] == "10"
    assert response.headers["ETag"] == whole.headers["ETag"]
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_open_ended_and_suffix_ranges(visitor, url, whole):
    length = len(whole.data)
    cases = {f"bytes={length - 1}-": (length - 1, length), "bytes=-5": (length - 5, length),
             # A suffix longer than the image is all of it (RFC 9110 §14.1.2).
             f"bytes=-{length + 1}": (0, length), f"bytes=0-{length * 2}": (0, length)}
    for header, (start, stop) in cases.items():
        response = visitor.client.get(url, headers={"Range": header})
        assert response.status_code == 206
        assert response.data == whole.data[start:stop]
        assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{length}"


def test_a_range_past_the_end_is_416_with_the_error(visitor, url, whole):
    length = len(whole.data)
    for header in ("bytes=999999999-", f"bytes={length}-", f"bytes={length}-{length + 5}",
                   "bytes=-0", "bytes=9" + "0" * 3000 + "-"):
        response = visitor.client.get(url, headers={"Range": header,
                                                     "Accept": "application/json"})
        body = assert_error(response, 416, "requested_range_not_satisfiable")
        assert body["message"] == NOT_SATISFIABLE
        assert response.headers["Content-Range"] == f"bytes */{length}"


def test_the_api_answers_416_as_json_whatever_the_client_accepts(api, record_id):
    url = f"{API}/records/{record_id}/images/processed"
    response = api.http.get(url, headers={"Range": "bytes=999999999-", "Accept": "image/*"})
    assert assert_error(response, 416, "requested_range_not_satisfiable")["message"] == (
        NOT_SATISFIABLE)


@pytest.mark.parametrize("headers", [
    {"If-Match": '"nope"'},
    {"If-Match": '"nope"', "Range": "bytes=0-9"},  # checked before the range is served
    {"If-Match": '"nope"', "If-None-Match": "*"},  # and before If-None-Match
])
def test_a_failed_if_match_is_412_with_the_error_never_the_image(visitor, url, records,
                                                                  monkeypatch, headers):
    # Answered from the record's metadata: the bytes are not read.
    monkeypatch.setattr(records, "read", lambda *args: (_ for _ in ()).throw(
        AssertionError("a 412 must not read the image")))
    response = visitor.client.get(url, headers={**headers, "Accept": "application/json"})
    assert_error(response, 412, "precondition_failed")
    assert response.get_json() == {"error": "precondition_failed",
                                   "message": PRECONDITION_FAILED}
    assert response.headers["Content-Length"] == str(len(response.data))
    assert "ETag" not in response.headers and "Content-Range" not in response.headers


def test_a_weak_or_other_etag_fails_if_match(visitor, url, whole):
    etag = whole.headers["ETag"]
    for header in (f"W/{etag}", '"other", W/' + etag):
        response = visitor.client.get(url, headers={"If-Match": header,
                                                    "Accept": "application/json"})
        assert_error(response, 412, "precondition_failed")


@pytest.mark.parametrize("header", ["*", "{etag}", '"other", {etag}'])
def test_a_matching_if_match_gets_the_image(visitor, url, whole, header):
    headers = {"If-Match": header.format(etag=whole.headers["ETag"]), "Range": "bytes=0-9"}
    response = visitor.client.get(url, headers=headers)
    assert response.status_code == 206 and response.data == whole.data[:10]
    response = visitor.client.get(url, headers={"If-Match": headers["If-Match"]})
    assert (response.status_code, response.data) == (200, whole.data)  # `*` was a 412


def test_the_page_answers_a_412_as_it_answers_its_404(visitor, url, whole):
    """A browser's image request gets the page's HTML error, the page's scripts JSON; the
    API JSON either way. None of them the image."""
    accept = "image/avif,image/webp,*/*;q=0.8"
    failed = visitor.client.get(url, headers={"If-Match": '"nope"', "Accept": accept})
    missing = visitor.client.get(url.replace("/processed", "/nothing"),
                                 headers={"Accept": accept})
    assert (failed.status_code, missing.status_code) == (412, 404)
    assert failed.mimetype == missing.mimetype
    assert failed.mimetype == ("application/json" if url.startswith(API) else "text/html")
    assert whole.data[:64] not in failed.data


def test_a_matching_if_none_match_is_304_with_no_body(visitor, url, whole):
    etag = whole.headers["ETag"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": etag, "Range": "bytes=0-9"},
                    {"If-None-Match": etag, "Range": "bytes=999999999-"},
                    {"If-None-Match": etag, "If-Match": etag}):
        response = visitor.client.get(url, headers=headers)
        assert response.status_code == 304
        assert response.data == b""
        assert response.headers["ETag"] == etag
        assert "Content-Range" not in response.headers


def test_a_range_for_another_version_gets_the_whole_image(visitor, url, whole):
    response = visitor.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert response.status_code == 200 and response.data == whole.data
    same = visitor.client.get(url, headers={"Range": "bytes=0-9",
                                            "If-Range": whole.headers["ETag"]})
    assert same.status_code == 206 and same.data == whole.data[:10]
    # A weak tag never matches in If-Range (RFC 9110 §13.1.5): the whole image (helper 67).
    weak = visitor.client.get(url, headers={"Range": "bytes=0-9",
                                            "If-Range": "W/" + whole.headers["ETag"]})
    assert weak.status_code == 200 and weak.data == whole.data


def test_the_document_lists_the_conditional_answers(app: Flask):
    paths = app.test_client().get(f"{API}/openapi.json").get_json()["paths"]
    image = paths["/records/{record_id}/images/{kind}"]["get"]["responses"]
    thumbnail = paths["/records/{record_id}/images/{kind}/{size}"]["get"]["responses"]
    # The front's own (400, 413, 414, 429, 501-505) included: test_api.py says which.
    assert list(image) == list(thumbnail) == [
        "200", "206", "304", "400", "401", "404", "412", "413", "414", "416", "429", "500",
        "501", "502", "503", "504", "505"]
    for responses in (image, thumbnail):
        assert responses["206"]["content"] == responses["200"]["content"]
        # With a key's rate headers (test_rate_headers.py) after each answer's own.
        assert list(responses["206"]["headers"]) == ["Content-Range", *RATE_HEADERS]
        assert "content" not in responses["304"]
        assert list(responses["304"]["headers"]) == ["ETag", *RATE_HEADERS]
        assert responses["200"]["headers"]["Accept-Ranges"]["required"] is True
        for status, code in (("412", "precondition_failed"),
                             ("416", "requested_range_not_satisfiable")):
            enum = responses[status]["content"]["application/json"]["schema"]["allOf"][1]
            assert enum == {"properties": {"error": {"enum": [code]}}}
        assert list(responses["416"]["headers"]) == ["Content-Range", *RATE_HEADERS]
