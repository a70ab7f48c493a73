"""Forms the parser cannot read, at every door that takes a form: a part without a name
(a 500 before), a multipart body that does not parse, or a urlencoded one that is not
UTF-8 (each read as an empty form before: "no name", "no photo", or "your page had
expired" for a form that had all three), and a urlencoded form past the bounds a
multipart one has (parsed whole before, however large)."""

import io
import random
import re
import tracemalloc
from urllib.parse import parse_qsl

import pytest

from app.http import bodies, urlencoded
from app.http.bodies import NO_FIELD_NAME, NO_FIELD_NAME_PLAIN, UNREADABLE
from app.http.sizes import MAX_FORM_MEMORY_SIZE, MAX_FORM_PARTS, MAX_PART_HEADERS
from tests.support import API, photo

KEY = "form-parsing-key-0123"
NOT_TEXT = ("The form holds a character that is not valid text (an unpaired surrogate or a "
            "U+FFFD replacement character). Please type it again.")
TOO_MANY = (f"The form is too large: it may have at most {MAX_FORM_PARTS} fields and 256 KB "
            "in all. Nothing was uploaded.")
MULTIPART = "multipart/form-data; boundary=XX"
URLENCODED = "application/x-www-form-urlencoded"


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"bot:{KEY}")


def part(disposition: bytes, value: bytes = b"x") -> bytes:
    return b"--XX\r\nContent-Disposition: form-data" + disposition + b"\r\n\r\n" + value + b"\r\n"


def with_photo(*parts: bytes) -> bytes:
    """`parts`, then a name and a photo that are fine."""
    return b"".join([*parts, part(b'; name="name"', b"cat"),
                     part(b'; name="image"; filename="cat.jpg"', photo()), b"--XX--\r\n"])


# The same body at each door; the page's form with its token, the others with a key.
PATHS = ["/", f"{API}/records", f"{API}/remove", "/v1.0/removebg"]


def sent(client, visitor, path: str, body: bytes, content_type: str):
    if path == "/":
        token = part(b'; name="csrf_token"', visitor.ensure_token().encode())
        body = token + body if content_type == MULTIPART else body
        headers = {"Accept": "application/json"}
    else:
        headers = {"X-Api-Key": KEY}
    return client.post(path, data=body, headers={**headers, "Content-Type": content_type})


def error(response) -> tuple[int, str, str]:
    body = response.get_json()
    if "errors" in body:  # remove.bg's shape
        (only,) = body["errors"]
        return response.status_code, only["code"], only["title"]
    return response.status_code, body["error"], body["message"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("nameless", [b"", b'; name=""', b'; filename="a.jpg"'])
def test_a_part_without_a_name_is_refused_at_every_door(client, visitor, fake_engine, records,
                                                        path, nameless):
    response = sent(client, visitor, path, with_photo(part(nameless)), MULTIPART)
    assert error(response) == (400, "invalid_body", NO_FIELD_NAME)
    assert records.records.count_documents({}) == 0


@pytest.mark.parametrize("path", PATHS[1:])  # the page's scripts send multipart
def test_a_urlencoded_field_without_a_name_is_said_so_in_its_terms(client, visitor, fake_engine,
                                                                   records, path):
    response = sent(client, visitor, path, b"=x&name=cat&image_url=https%3A%2F%2Fa.example%2F",
                    URLENCODED)
    assert error(response) == (400, "invalid_body", NO_FIELD_NAME_PLAIN)
    assert NO_FIELD_NAME_PLAIN == ('A field of the form has no name ("=value"): send each one '
                                   "as name=value.")
    assert records.records.count_documents({}) == 0


@pytest.mark.parametrize("path, field", [
    ("/", "image"), ("/", "background_image"),
    (f"{API}/records", "image"), (f"{API}/remove", "image"),
    (f"{API}/remove", "background_image"), ("/v1.0/removebg", "image_file"),
    ("/v1.0/removebg", "bg_image_file")])
def test_a_photo_sent_as_text_is_said_so(client, visitor, fake_engine, records, path, field):
    """A text part where a file goes was dropped: "choose an image", or (a background)
    a cutout without it and not a word (before, at remove.bg's door: 200)."""
    photo_field = "image_file" if path.startswith("/v1.0") else "image"
    body = b"".join([part(b'; name="name"', b"cat") if path.endswith(("records", "/")) else b"",
                     part(b'; name="output"', b"image") if field == "background_image" else b"",
                     part(f'; name="{field}"'.encode(), b"cat.jpg"),
                     b"" if field == photo_field else part(
                         f'; name="{photo_field}"; filename="c.jpg"'.encode(), photo()),
                     b"--XX--\r\n"])
    assert error(sent(client, visitor, path, body, MULTIPART)) == (
        400, "invalid_body", f"{field} is a file: send the photo as a file part of the form "
                             "(with a filename), not as text.")
    assert fake_engine.calls == 0 and records.records.count_documents({}) == 0


@pytest.mark.parametrize("path, field", [
    (f"{API}/remove", "background_image"), ("/v1.0/removebg", "bg_image_file")])
def test_a_photos_field_sent_empty_is_a_field_left_empty(client, visitor, fake_engine, path,
                                                         field):
    """As an empty bg_color is: the default (no background), not "a file sent as text"."""
    photo_field = "image_file" if path.startswith("/v1.0") else "image"
    body = b"".join([part(f'; name="{field}"'.encode(), b""),
                     part(f'; name="{photo_field}"; filename="c.jpg"'.encode(), photo()),
                     b"--XX--\r\n"])
    response = sent(client, visitor, path, body, MULTIPART)
    assert (response.status_code, response.mimetype) == (200, "image/png")
    assert fake_engine.calls == 1


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("body", [
    with_photo(part(b'; name="\xff"')),  # a name that is not UTF-8 spoils the whole form
    b"garbage",
    b"--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ncat",  # cut short
], ids=["name-not-utf8", "garbage", "cut-short"])
def test_a_multipart_body_that_does_not_parse_is_said_so(client, visitor, fake_engine,
                                                         records, path, body):
    response = sent(client, visitor, path, body, MULTIPART)
    assert error(response) == (400, "invalid_body", UNREADABLE)
    assert records.records.count_documents({}) == 0


def test_an_empty_multipart_form_is_an_upload_without_a_photo(client, visitor):
    response = sent(client, visitor, f"{API}/remove", b"--XX--\r\n", MULTIPART)
    assert error(response)[:2] == (400, "missing_image")


# Each door's photo field, and the name where it takes one.
PHOTO_FIELDS = {"/": (b"image", True), f"{API}/records": (b"image", True),
                f"{API}/remove": (b"image", False), "/v1.0/removebg": (b"image_file", False)}
PART_HEADERS_TOO_LARGE = ("The form is too large: it may have at most 50 fields, each text field "
                          "at most {fields}, and 64 KB of part headers in all. Nothing was "
                          "uploaded.")


def padded(path: str, pad: int, where: str) -> bytes:
    """A form the door takes, with `pad` bytes more before its first part or in a header
    of its photo's part."""
    field, named = PHOTO_FIELDS[path]
    header = b"\r\nX-Pad: " + b"a" * pad if where == "header" else b""
    parts = [part(b'; name="name"', b"cat")] if named else []
    parts.append(part(b'; name="' + field + b'"; filename="cat.jpg"' + header, photo()))
    preamble = b"a" * pad if where == "preamble" else b""
    return b"".join([preamble, *parts, b"--XX--\r\n"])


def part_headers(path: str, where: str) -> int:
    """The bytes of `padded(path, 0, where)` that are not values: the body less each value
    and the line break after it."""
    values = [photo()] + ([b"cat"] if PHOTO_FIELDS[path][1] else [])
    return len(padded(path, 0, where)) - sum(len(value) + 2 for value in values)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("where", ["header", "preamble"])
def test_part_headers_are_bounded_in_all_at_every_door(client, visitor, fake_engine, records,
                                                       path, where):
    """Werkzeug turns each header line into Python objects, bounded only by a text field's
    size: 49 parts of 180 KB of header lines took 8.8 s at the API's door, and 15 MB of
    them 10 s and 371 MiB at remove.bg's. Exactly the bound is read as the form without
    its padding is; one byte more is refused before any part is read."""
    headers = {"Accept": "application/json", "X-CSRFToken": visitor.ensure_token(),
               "X-Api-Key": KEY if path != "/" else "", "Content-Type": MULTIPART}
    headers = {name: value for name, value in headers.items() if value}
    room = MAX_PART_HEADERS - part_headers(path, where)
    answers = [client.post(path, data=padded(path, pad, where), headers=headers)
               for pad in (0, room, room + 1)]
    plain, at, over = answers
    assert (at.status_code, at.mimetype) == (plain.status_code, plain.mimetype)
    assert plain.status_code in (200, 201), plain.get_data()[:300]
    status, code = {"/v1.0/removebg": (400, "file_too_large")}.get(path, (413, "too_large"))
    assert error(over) == (status, code, PART_HEADERS_TOO_LARGE.format(
        fields="15 MB" if path == "/v1.0/removebg" else "256 KB"))
    assert records.records.count_documents({}) == (2 if path in ("/", f"{API}/records") else 0)


@pytest.mark.parametrize("filler", [b"X-A: b\r\n", b" c\r\n", b"b"])
def test_a_part_of_fifteen_megabytes_of_headers_costs_a_copy_of_the_body(app, client, visitor,
                                                                        filler):
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"size\"\r\nX-A: "
            + filler * ((app.config["MAX_CONTENT_LENGTH"] - 4096) // len(filler))
            + b"\r\n\r\nauto\r\n--XX--\r\n")
    response, peak = peak_while(lambda: sent(client, visitor, "/v1.0/removebg", body, MULTIPART))
    assert error(response)[:2] == (400, "file_too_large")
    assert peak < 3 * len(body), f"{peak / 2**20:.0f} MiB for a {len(body) / 2**20:.0f} MiB body"


def test_a_multipart_body_without_its_boundary_is_said_so_unsearched(client, visitor, parsed):
    """Werkzeug searched 15 MB of lines for the boundary with a pattern (3.9 s)."""
    response = sent(client, visitor, "/v1.0/removebg", b"p\r\n" * 5_000_000, MULTIPART)
    assert error(response) == (400, "invalid_body", UNREADABLE)
    assert parsed == [1]


# Warnings are errors here: a parser Python warns about (a functools.partial on a class
# warns in 3.13 and is a method in 3.14, so every form failed) would fail this test.
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("path", PATHS[1:])
@pytest.mark.parametrize("body", [
    b"image_url=http://a.example/\xff.jpg",
    # Escaped: Werkzeug kept these as "%FF" and "a%E2%82b", names a person never typed.
    b"name=%ff&image_url=https%3A%2F%2Fa.example%2Fc.jpg",
    b"name=a%e2%82b&image_url=https%3A%2F%2Fa.example%2Fc.jpg"])
def test_a_urlencoded_form_that_is_not_utf8_is_said_so(client, visitor, records, path, body):
    response = sent(client, visitor, path, body, URLENCODED)
    assert error(response) == (400, "invalid_body", NOT_TEXT)
    assert records.records.count_documents({}) == 0


@pytest.mark.parametrize("name", ["%e2%82%ac", "%25ff", "100%", "caf%C3%A9+au+lait"])
def test_escaped_utf8_in_a_urlencoded_form_is_taken(client, visitor, fake_engine, records,
                                                    name):
    client.application.extensions["services"].uploads.fetch = lambda url, holder=None: photo()
    response = sent(client, visitor, f"{API}/records",
                    f"name={name}&image_url=https%3A%2F%2Fa.example%2Fc.jpg".encode(), URLENCODED)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["image_name"] == {
        "%e2%82%ac": "€", "%25ff": "%ff", "100%": "100%", "caf%C3%A9+au+lait": "café au lait"}[name]


@pytest.mark.parametrize("body", [b"", b"&", b"&&"])
def test_a_urlencoded_form_of_separators_is_an_empty_one(client, visitor, body):
    response = sent(client, visitor, f"{API}/remove", body, URLENCODED)
    assert error(response)[:2] == (400, "missing_image")


@pytest.mark.parametrize("path, read", [(f"{API}/records", "invalid_name"),
                                        (f"{API}/remove", "invalid_url")])
def test_a_urlencoded_form_has_the_bounds_of_a_multipart_one(client, visitor, path, read):
    fields = [f"f{i}=1".encode() for i in range(MAX_FORM_PARTS + 1)]
    over = sent(client, visitor, path, b"&".join(fields), URLENCODED)
    assert error(over) == (413, "too_large", TOO_MANY)
    # As many fields as allowed are read: the first unknown one is named.
    at = sent(client, visitor, path, b"&".join(fields[:-1]), URLENCODED)
    assert error(at)[:2] == (400, "invalid_body")
    assert error(at)[2].startswith("Unknown field 'f0': send only ")
    long = b"image_url=" + b"a" * (MAX_FORM_MEMORY_SIZE + 1 - len(b"image_url="))
    assert len(long) == MAX_FORM_MEMORY_SIZE + 1
    assert error(sent(client, visitor, path, long, URLENCODED)) == (413, "too_large", TOO_MANY)
    # One byte less is read (and refused for what it holds: no name, or no such address).
    assert error(sent(client, visitor, path, long[:-1], URLENCODED))[:2] == (400, read)


def test_remove_bg_takes_a_photo_in_base64_past_the_forms_bound(client, visitor):
    """Its image_file_b64 may be a whole photo: its door raises the bound to an upload's."""
    body = b"image_file_b64=" + b"A" * (MAX_FORM_MEMORY_SIZE * 2)
    status, code, _ = error(sent(client, visitor, "/v1.0/removebg", body, URLENCODED))
    assert (status, code) == (400, "invalid_file_type")  # read, found not to be a photo


@pytest.mark.parametrize("path", [f"{API}/remove", "/v1.0/removebg"])
def test_an_unknown_field_with_a_long_name_is_quoted_short(client, visitor, path):
    response = sent(client, visitor, path, b"f" * 300 + b"=1", URLENCODED)
    status, code, message = error(response)
    assert (status, code) == (400, "invalid_body")
    assert message.startswith("Unknown field '" + "f" * 40 + "…': ")
    assert "f" * 41 not in message


def large_form(app, filler: bytes) -> bytes:
    """A urlencoded form of `filler` just within remove.bg's limit, an upload's."""
    size = app.config["MAX_CONTENT_LENGTH"] - 1024
    body = filler * (size // len(filler))
    if filler == b"%41":  # one field: a photo in base64 whose every byte is escaped
        body = b"image_file_b64=" + body[:-15]
    return body


def peak_while(send) -> tuple[object, int]:
    """What `send()` answered, and Python's peak allocation while it ran."""
    tracemalloc.start()
    try:
        response = send()
        return response, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("filler", [b"a=b&", b"&", b"%41"])
def test_a_large_urlencoded_form_is_counted_without_a_copy_of_its_fields(app, client, visitor,
                                                                         filler):
    """At remove.bg's door a urlencoded form may be as large as an upload: counting its
    fields once held 306 MB and took 0.4 s for 15 MB of `a=b&`, and urllib's unquote held
    1.1 GB for 6.6 s to decode 15 MB of `%41`. Python's allocations while the request is
    answered stay within three times the body (the body itself, Werkzeug's copy, and
    slack)."""
    body = large_form(app, filler)
    response, peak = peak_while(lambda: sent(client, visitor, "/v1.0/removebg", body,
                                             URLENCODED))
    status, code, message = error(response)
    assert (status, code) == {
        b"a=b&": (400, "file_too_large"),  # remove.bg's status and code for our 413
        b"&": (400, "missing_source"),  # an empty form
        b"%41": (400, "failed_to_read_image"),  # read whole: "AAAA…" is no photo
    }[filler]
    if filler == b"a=b&":
        assert message.startswith(f"The form is too large: it may have at most {MAX_FORM_PARTS} "
                                  "fields and 15 MB in all.")
    assert peak < 3 * len(body), f"{peak / 2**20:.0f} MiB for a {len(body) / 2**20:.0f} MiB body"


@pytest.fixture
def parsed(monkeypatch) -> list:
    """A 1 for each form Werkzeug's parser reads."""
    calls = []
    real_parse = bodies._Parser.parse
    monkeypatch.setattr(bodies._Parser, "parse",
                        lambda *args, **kwargs: calls.append(1) or real_parse(*args, **kwargs))
    return calls


@pytest.mark.parametrize("key", [None, "not-a-key-0123456789", KEY])
@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_a_caller_refused_for_its_key_has_no_body_read(app, client, parsed, key,
                                                       content_type):
    """The key is checked before the form: 15 MB of a urlencoded form from a caller
    without a valid key took 0.17 s and 42 MiB to parse before the 403."""
    if content_type == URLENCODED:
        body = large_form(app, b"%41")
    else:
        body = part(b'; name="image_file"; filename="a.jpg"', b"\xff" * 15_000_000) + b"--XX--\r\n"
    headers = {"Content-Type": content_type} | ({"X-Api-Key": key} if key else {})
    response, peak = peak_while(lambda: client.post("/v1.0/removebg", data=body,
                                                    headers=headers))
    if key == KEY:  # read once, and found not to be a photo
        code = "failed_to_read_image" if content_type == URLENCODED else "invalid_file_type"
        assert (error(response)[:2], parsed) == ((400, code), [1])
        return
    assert error(response)[:2] == (403, "invalid_key" if key else "missing_key")
    assert parsed == []
    assert peak < 1 << 20, f"{peak / 2**20:.0f} MiB read for a refused key"


@pytest.mark.parametrize("key", ["not-a-key-0123456789", KEY])
def test_the_api_reads_no_form_for_a_wrong_key_either(client, parsed, key):
    body = part(b'; name="image"; filename="a.jpg"', b"\xff" * 15_000_000) + b"--XX--\r\n"
    response = client.post(f"{API}/remove", data=body,
                           headers={"Content-Type": MULTIPART, "X-Api-Key": key})
    assert (error(response)[:2], parsed) == (
        ((415, "invalid_image"), [1]) if key == KEY else ((401, "invalid_key"), []))


@pytest.mark.parametrize("method, path, status", [
    ("POST", "/v1.0/nope", 404), ("POST", "/v1.0/account", 405), ("PUT", "/v1.0/removebg", 405),
    ("POST", "/v1.0/removebg/", 404), ("OPTIONS", "/v1.0/removebg", 204),
    ("GET", f"{API}/account", 401)])
def test_a_body_no_view_reads_is_not_parsed(app, client, parsed, method, path, status):
    """Without a key, a path or method that does not exist, OPTIONS, or a GET with a
    body: nothing reads its form, so nothing parses it (a 404 at remove.bg's door had its
    15 MB form parsed, 0.3 s and 44 MiB, before the answer)."""
    response = client.open(path, method=method, data=large_form(app, b"%41"),
                           headers={"Content-Type": URLENCODED})
    assert (response.status_code, parsed) == (status, [])


@pytest.mark.parametrize("door", ["page", "api", "api with a key"])
@pytest.mark.parametrize("body, headers", [
    (b"=x", {"Content-Type": URLENCODED}),  # a field without a name
    (b"&".join(b"f%d=1" % i for i in range(MAX_FORM_PARTS + 1)), {"Content-Type": URLENCODED}),
    (b"garbage", {"Content-Type": MULTIPART}),
    (b"\x1f\x8b garbage", {"Content-Type": URLENCODED, "Content-Encoding": "gzip"}),
    (b'{"x": 1}', {"Content-Type": "application/json"})],
    ids=["nameless", "too-many-fields", "malformed", "gzip", "json"])
def test_a_deletions_body_is_not_read(client, visitor, record_id, parsed, door, body, headers):
    """No view reads a DELETE's body, and its token comes in a header: a form was parsed,
    and a malformed, coded or too large one refused (400, 413, 415), where a JSON body
    was ignored."""
    path, success = {"page": (f"/remove/{record_id}", 200)}.get(
        door, (f"{API}/records/{record_id}", 204))
    caller = ({"X-Api-Key": KEY} if door == "api with a key"
              else {"X-CSRFToken": visitor.ensure_token()})
    if door == "api with a key":  # the key's own record
        path = path.replace(record_id, client.post(
            f"{API}/records", data={"name": "cat", "image": (io.BytesIO(photo()), "a.jpg")},
            headers=caller).get_json()["id"])
        parsed.clear()  # the upload's form
    response = client.delete(path, data=body, headers={**caller, **headers})
    assert (response.status_code, parsed) == (success, [])
    assert visitor.record_ids() == ([record_id] if door == "api with a key" else [])


@pytest.mark.parametrize("method, path, status, code", [
    ("POST", "/v1.0/nope", 404, "not_found"), ("PUT", "/v1.0/removebg", 405, "method_not_allowed"),
    ("POST", f"{API}/nope", 404, "not_found")])
def test_a_malformed_form_to_a_path_that_does_not_exist_is_its_404_or_405(client, method, path,
                                                                          status, code):
    response = client.open(path, method=method, data=b"=x",
                           headers={"Content-Type": URLENCODED, "X-Api-Key": KEY})
    assert error(response)[:2] == (status, code)


# Werkzeug's own reading (urllib's parse_qsl) of the same bodies, which the app replaced.
def werkzeugs(raw: bytes):
    return parse_qsl(b"&".join(part for part in raw.split(b"&") if part).decode(),
                     keep_blank_values=True, errors="werkzeug.url_quote")


@pytest.mark.parametrize("raw", [
    b"", b"a", b"a=", b"=b", b"a=b=c", b"a+b=c+d", b"a=%2B%2b%20", b"a=%", b"a=%4", b"a=%4g",
    b"a=%%41", b"a=%41%", b"name=%e2%82%ac&x=caf\xc3\xa9", b"n=%ff%fe", b"n=%C3", b"a=b;c=d",
    b"&&a=1&&b=2&&", b"image_file_b64=ab%2Bc%2F%3D%3D"])
def test_a_urlencoded_form_is_read_as_werkzeug_reads_it(raw):
    assert urlencoded.fields(raw, MAX_FORM_PARTS + 1) == werkzeugs(raw)


def test_a_value_read_in_slices_is_read_whole(monkeypatch):
    """Slices of 7 bytes: escapes that a slice's end would cut are read whole."""
    pieces = [b"a", b"=", b"+", b"%", b"2", b"B", b"f", b"%41", b"%e2%82%ac", b"%ff", b"%4",
              b"\xc3\xa9", b"%%", b"x"]
    rng = random.Random(7)
    bodies = [b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
              for _ in range(2000)]
    whole = [werkzeugs(raw) for raw in bodies]
    monkeypatch.setattr(urlencoded, "_SLICE", 7)
    assert [urlencoded.fields(raw, 1000) for raw in bodies] == whole


def test_the_fiftieth_field_is_read_and_the_fifty_first_refused(client, visitor, fake_engine):
    """47 fields the page does not know, its token, a name and the photo's address last."""
    client.application.extensions["services"].uploads.fetch = lambda url, holder=None: photo()
    fields = [f"x{i}=1".encode() for i in range(47)] + [
        b"csrf_token=" + visitor.ensure_token().encode(), b"name=cat",
        b"image_url=https%3A%2F%2Fa.example%2Fc.jpg"]
    assert len(fields) == MAX_FORM_PARTS

    def post(body):
        return client.post("/", data=body, content_type=URLENCODED,
                           headers={"Accept": "application/json"})

    made = post(b"&".join(fields))
    assert made.status_code == 201 and made.get_json()["image_name"] == "cat"
    assert error(post(b"x=1&" + b"&".join(fields))) == (413, "too_large", TOO_MANY)


def _run_is_utf8(raw: bytes) -> bool:
    """The rule, read whole: every run of escaped bytes over 127 decodes as UTF-8."""
    runs = re.findall(rb"(?:%[89A-Fa-f][0-9A-Fa-f])+", raw)
    try:
        for run in runs:
            bytes.fromhex(run.replace(b"%", b"").decode()).decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("char", ["é", "€", "😀"])
@pytest.mark.parametrize("count", [1364, 1365, 1366, 2047, 2048, 2049, 4096, 9000])
def test_a_long_run_of_escapes_read_in_pieces_is_judged_whole(char, count):
    """A run is read 4,096 escapes at a time: a character cut between two pieces is still
    one character, and a byte that ends a run short is still refused."""
    run = ("".join(f"%{byte:02X}" for byte in char.encode()) * count).encode()
    for raw in (b"a=" + run, b"a=" + run + b"%C3", b"a=" + run[:-3], b"a=" + run + b"&b=%A9",
                b"a=x" + run + b"x"):
        assert urlencoded.escapes_are_utf8(raw) == _run_is_utf8(raw)
    assert urlencoded.escapes_are_utf8(b"a=" + run)
    assert not urlencoded.escapes_are_utf8(b"a=" + run + b"%C3")


def test_a_run_of_five_million_escapes_is_checked_in_bounded_memory():
    """One run of %C3%A9 as long as remove.bg's form allows held 358 MiB of `re`'s frames."""
    raw = b"image_file_b64=" + b"%C3%A9" * 2_500_000
    tracemalloc.start()
    try:
        assert urlencoded.escapes_are_utf8(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak / 2**20:.0f} MiB"
