"""Every body, at both doors: a null, a duplicate key, an invisible name or broken text is
a 400 with its sentence; an upload by address needs no file, so the API also takes it as
JSON or as a urlencoded form."""

import io
import json

import pytest
from openapi_spec_validator import validate

from tests.support import API, assert_error, photo

NULL = "{} cannot be null: send a value, or leave the field out."
TWICE = "The field 'image_name' was sent more than once."
INVISIBLE = ("Please give the image a name with at least one visible character, not only "
             "spaces or invisible characters such as a zero-width space.")
NOT_TEXT = ("The {} holds a character that is not valid text (an unpaired surrogate or a "
            "U+FFFD replacement character). Please type it again.")
ADDRESS = "https://photos.example.com/cat.jpg"


@pytest.fixture
def fetched(app):
    """Photos by address come from here instead of the network: the addresses asked for."""
    asked = []
    uploads = app.extensions["services"].uploads

    def fetch(url, holder=None):
        asked.append(url)
        return photo()

    uploads.fetch = fetch
    return asked


def refused(response, status, error, message):
    assert assert_error(response, status, error)["message"] == message


@pytest.mark.parametrize("field, error", [
    ("image_name", "invalid_name"), ("output", "invalid_options"),
    ("background", "invalid_options"), ("crop", "invalid_options"),
    ("crop_margin", "invalid_options"), ("format", "invalid_options"),
    ("refine_edges", "invalid_options"),
])
def test_an_edit_refuses_null_and_keeps_the_record_whole(api, record_id, field, error):
    """Before, {"image_name": null} answered 200 and stored a null name: the record's
    images then answered 500 and the page showed "None"."""
    refused(api.rename(record_id, {field: None}), 400, error, NULL.format(field))
    record = api.http.get(f"{API}/records/{record_id}").get_json()
    assert record["image_name"] == "Raven"
    download = api.http.get(f"{API}/records/{record_id}/images/processed?download=1")
    assert download.status_code == 200
    assert "Raven.png" in download.headers["Content-Disposition"]


def test_the_page_refuses_null_names_and_edits_too(visitor, fake_engine):
    visitor.upload(photo(), name="Raven")
    (record_id,) = visitor.record_ids()
    refused(visitor.rename(record_id, {"record_name": None}), 400, "invalid_name",
            "Please give the image a name of 1 to 50 characters.")
    mismatch = visitor.rename(record_id, {"record_id": None, "record_name": "Crow"})
    assert (mismatch.status_code, mismatch.get_json()) == (400, {
        "error": "id_mismatch", "message": "The record_id in the body does not match the URL."})


NOT_A_STRING = ('Please give the image a name as text (a string such as "cat"), not a '
                'number, a flag, a list or an object.')


@pytest.mark.parametrize("value", [5, 2.5, True, ["cat"], {"name": "cat"}])
def test_a_name_that_is_not_text_is_told_so_at_every_door(api, visitor, record_id, fetched,
                                                          value):
    """Before, {"name": 5} was told to be "1 to 50 characters" long."""
    refused(api.http.post(f"{API}/records", json={"name": value, "image_url": ADDRESS},
                          headers=api.headers()), 400, "invalid_name", NOT_A_STRING)
    refused(api.rename(record_id, {"image_name": value}), 400, "invalid_name", NOT_A_STRING)
    refused(visitor.rename(record_id, {"record_name": value}), 400, "invalid_name",
            NOT_A_STRING)
    assert fetched == []  # refused before the photo was fetched
    assert api.http.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"


def test_a_name_sent_as_a_file_part_is_not_told_it_is_a_number(api):
    """A form's file part where text goes reaches the rules as bytes: not JSON's sentence."""
    refused(api.http.post(f"{API}/records", headers=api.headers(),
                          data={"name": (io.BytesIO(b"cat"), "name.txt"),
                                "image": (io.BytesIO(photo()), "cat.jpg")}),
            400, "invalid_name", "Please give the image a name of 1 to 50 characters.")


def test_a_key_sent_twice_in_json_is_refused_at_both_doors(api, record_id, other_visitor):
    visitor = other_visitor
    body = '{"image_name": "Crow", "image_name": "Rook"}'
    refused(api.http.patch(f"{API}/records/{record_id}", data=body,
                           content_type="application/json", headers=api.headers()),
            400, "invalid_body", TWICE)
    assert api.http.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"
    nested = '{"image_name": "Crow", "output": {"a": 1, "a": 2}}'  # at any depth
    refused(api.http.patch(f"{API}/records/{record_id}", data=nested,
                           content_type="application/json", headers=api.headers()),
            400, "invalid_body", "The field 'a' was sent more than once.")
    visitor.upload(photo(), name="Jay")
    (page_record,) = visitor.record_ids()
    refused(visitor.client.put(f"/update/{page_record}",
                               data='{"record_name": "Crow", "record_name": "Rook"}',
                               content_type="application/json",
                               headers={"X-CSRFToken": visitor.ensure_token()}),
            400, "invalid_body", "The field 'record_name' was sent more than once.")


@pytest.mark.parametrize("name", ["\u200b", " \u200c\u200d ", "\u2060\ufeff", "\u3164",
                                  "\u115f\u1160", "\uffa0", "\u2800", "\u200b \u3164"])
def test_an_invisible_name_is_refused_at_both_doors(api, record_id, visitor, name):
    refused(api.rename(record_id, {"image_name": name}), 400, "invalid_name", INVISIBLE)
    refused(api.create(photo(), name=name), 400, "invalid_name", INVISIBLE)
    refused(visitor.upload_json(photo(), name=name), 400, "invalid_name", INVISIBLE)
    refused(visitor.rename(record_id, {"record_name": name}), 400, "invalid_name", INVISIBLE)


def multipart(name: bytes, **fields: str) -> tuple[bytes, str]:
    """A form whose `name` part holds exactly these bytes, and a photo."""
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'.encode()
             + name + b"\r\n"]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
              f"{value}\r\n".encode() for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                 f'filename="cat.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
                 + photo() + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("sent", [b"cat\xed\xa0\x80", b"cat\xff", "cat\ufffd".encode()])
def test_broken_text_in_a_form_is_refused_as_a_lone_surrogate_in_json_is(
        api, other_visitor, record_id, sent):
    """Werkzeug decodes a form's fields with errors="replace", and browsers send a lone
    surrogate as U+FFFD: the name was stored with U+FFFD in it."""
    body, content_type = multipart(sent, csrf_token=other_visitor.ensure_token())
    page = other_visitor.client.post("/", data=body, content_type=content_type,
                                     headers={"Accept": "application/json"})
    refused(page, 400, "invalid_name", NOT_TEXT.format("name"))
    body, content_type = multipart(sent)
    created = api.http.post(f"{API}/records", headers=api.headers(), data=body,
                            content_type=content_type)
    refused(created, 400, "invalid_name", NOT_TEXT.format("name"))
    refused(api.rename(record_id, {"image_name": "cat\ud800"}), 400, "invalid_name",
            NOT_TEXT.format("image name"))


def test_a_field_name_that_is_not_text_is_told_so_at_every_json_call(api, record_id):
    """A lone surrogate as a JSON key: pydantic's own code and sentence were answered
    (string_unicode, "unable to parse raw data as a unicode string"), no code of ours."""
    expected = (400, {"error": "invalid_body", "message": NOT_TEXT.format("x").replace(
        "The x", "A field's name")})
    body = '{"image_url": "https://photos.example/cat.jpg", "\\ud800": 1}'
    for method, path in (("POST", f"{API}/records"), ("POST", f"{API}/remove"),
                         ("PATCH", f"{API}/records/{record_id}")):
        answer = api.http.open(path, method=method, data=body, headers={
            **api.headers(), "Content-Type": "application/json"})
        assert (answer.status_code, answer.get_json()) == expected, (method, path)


def test_an_upload_by_address_as_json(api, fetched):
    response = api.http.post(f"{API}/records", headers=api.headers(), json={
        "name": " cat ", "image_url": ADDRESS, "output": "color", "background": "#AABBCC",
        "crop": True, "crop_margin": 0})  # JSON's own true, as well as a form's words
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert (record["image_name"], record["options"]["background"], record["options"]["crop"],
            record["options"]["crop_margin"]) == ("cat", "#aabbcc", True, 0)
    assert response.headers["Location"].endswith(f"/records/{record['id']}")
    assert fetched == [ADDRESS]


def test_an_upload_by_address_as_a_urlencoded_form(api, fetched):
    response = api.http.post(f"{API}/records", headers=api.headers(),
                             data={"name": "cat", "image_url": ADDRESS, "crop_margin": "7"},
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["options"]["crop_margin"] == 7
    assert fetched == [ADDRESS]


@pytest.mark.parametrize("body, error, message", [
    ({"name": "cat"}, "missing_image",
     "Give the photo's address as image_url (a file needs multipart/form-data)."),
    ({"name": "cat", "image": "aGVsbG8="}, "invalid_body",
     "image is a file: send it with multipart/form-data."),
    ({"name": "cat", "image_url": ADDRESS, "output": "image"}, "invalid_options",
     "Output image puts a photo of yours behind the subject: send it as background_image, "
     "with multipart/form-data."),
    ({"name": "cat", "image_url": ADDRESS, "model": None}, "invalid_options",
     NULL.format("model")),
    ({"name": None, "image_url": ADDRESS}, "invalid_name",
     "Please give the image a name of 1 to 50 characters."),
    ({"name": "cat", "image_url": ADDRESS, "crop_margin": "5", "x": 1}, "invalid_body",
     "Unknown field 'x': send only name, image_url, model, output, background, crop, "
     "crop_margin, format, refine_edges."),
    ({"name": "cat", "image_url": ADDRESS, "crop_margin": 2.5}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ("[1]", "invalid_body",
     'Send a JSON object such as {"name": "cat", "image_url": "https://example.com/cat.jpg"}.'),
    ('{"name": "a", "name": "b", "image_url": "' + ADDRESS + '"}', "invalid_body",
     "The field 'name' was sent more than once."),
])
def test_an_upload_by_address_refuses_as_a_multipart_one_does(api, fetched, body, error,
                                                              message):
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {
        "json": body}
    refused(api.http.post(f"{API}/records", headers=api.headers(), **kwargs), 400, error,
            message)
    assert fetched == []


def test_a_urlencoded_upload_refuses_a_field_sent_twice_and_a_file_field(api, fetched):
    twice = api.http.post(f"{API}/records", headers=api.headers(),
                          data=f"name=a&name=b&image_url={ADDRESS}",
                          content_type="application/x-www-form-urlencoded")
    refused(twice, 400, "invalid_body", "The field 'name' was sent more than once.")
    file = api.http.post(f"{API}/records", headers=api.headers(),
                         data=f"name=a&image=abc&image_url={ADDRESS}",
                         content_type="application/x-www-form-urlencoded")
    refused(file, 400, "invalid_body", "image is a file: send it with multipart/form-data.")
    # Werkzeug drops a whole form that is not UTF-8: it said "give the image a name".
    broken = api.http.post(f"{API}/records", headers=api.headers(),
                           data=f"name=cat\xff&image_url={ADDRESS}".encode("latin-1"),
                           content_type="application/x-www-form-urlencoded")
    refused(broken, 400, "invalid_body", NOT_TEXT.format("form"))
    assert fetched == []


def test_the_document_offers_the_three_bodies_from_one_model(api):
    document = api.http.get(f"{API}/openapi.json").get_json()
    validate(document)
    content = document["paths"]["/records"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json",
                            "application/x-www-form-urlencoded"}
    assert content["multipart/form-data"]["schema"] == {
        "$ref": "#/components/schemas/UploadRequest"}
    for media_type in ("application/json", "application/x-www-form-urlencoded"):
        assert content[media_type] == {"schema": {"$ref": "#/components/schemas/UploadByAddress"}}
    schemas = document["components"]["schemas"]
    upload, by_address = schemas["UploadRequest"], schemas["UploadByAddress"]
    assert set(by_address["properties"]) == set(upload["properties"]) - {"image",
                                                                          "background_image"}
    assert all(by_address["properties"][name] == upload["properties"][name]
               for name in by_address["properties"])
    assert by_address["required"] == ["name", "image_url"]
    assert by_address["additionalProperties"] is False
    edit = schemas["EditFields"]["properties"]
    assert all("default" not in field and "anyOf" not in field for field in edit.values())


def unframed(client, method, url, body: bytes, token):
    """A body sent without Content-Length (chunked, as a proxy may pass it on)."""
    return client.open(url, method=method, input_stream=io.BytesIO(body),
                       headers={"Content-Type": "application/json", "X-CSRFToken": token,
                                "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


TOO_LARGE_JSON = ("The JSON body is too large: it may hold at most 16 KB. Nothing was changed. "
                  "A photo is not sent in JSON here: send it as a file part of "
                  "multipart/form-data, or its address as image_url.")
# A rename or an edit is told the size alone: it takes no photo in JSON.
TOO_LARGE_EDIT = "The JSON body is too large: it may hold at most 16 KB. Nothing was changed."


@pytest.mark.parametrize("path", [f"{API}/records", f"{API}/remove"])
def test_a_photo_in_base64_in_json_is_told_how_a_photo_is_sent(api, path):
    """A script's first try: the photo's bytes in base64 in a JSON body. One byte over
    16 KB it is the size that refuses it, so the answer says how a photo is sent; at 16 KB
    the field is refused ("image is a file")."""
    def body(size):
        wrapper = '{"image": "/9j/"}'
        return wrapper.replace("/9j/", "/9j/" + "A" * (size - len(wrapper)))

    assert len(body(16 * 1024 + 1)) == 16_385
    assert assert_error(api.http.post(path, data=body(16 * 1024 + 1),
                                      content_type="application/json", headers=api.headers()),
                        413, "too_large")["message"] == TOO_LARGE_JSON
    assert assert_error(api.http.post(path, data=body(16 * 1024),
                                      content_type="application/json", headers=api.headers()),
                        400, "invalid_body")["message"] == (
        "image is a file: send it with multipart/form-data.")


@pytest.mark.parametrize("framed", [True, False])
def test_a_json_body_past_16_kb_is_not_read_with_or_without_its_length(visitor, record_id,
                                                                        framed):
    """The padding (JSON's own spaces) keeps the body a valid rename: only its size can
    refuse it."""
    body = json.dumps({"record_name": "Crow"}).encode()
    body = body[:-1] + b" " * (16 * 1024 + 1 - len(body)) + b"}"
    assert len(body) == 16 * 1024 + 1
    token = visitor.ensure_token()
    if framed:
        response = visitor.client.put(f"/update/{record_id}", data=body, headers={
            "Content-Type": "application/json", "X-CSRFToken": token})
    else:
        response = unframed(visitor.client, "PUT", f"/update/{record_id}", body, token)
    refused(response, 413, "too_large", TOO_LARGE_EDIT)
    # One byte less is read, and renames.
    small = body.replace(b"  ", b" ", 1)
    assert unframed(visitor.client, "PUT", f"/update/{record_id}", small,
                    token).get_json() == {"message": "success", "record_name": "Crow"}


@pytest.mark.parametrize("path, method", [("/update/{}", "PUT"), (f"{API}/records/{{}}", "PATCH")])
def test_a_json_body_past_the_upload_limit_is_told_the_json_limit(api, visitor, record_id,
                                                                  path, method):
    """Past 15 MB Werkzeug refuses the body before the view: its sentence was the photo's
    ("The file is too large") for a rename."""
    body = b'{"record_name": "' + b"x" * (15 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json", "X-CSRFToken": visitor.ensure_token()}
    response = visitor.client.open(path.format(record_id), method=method, data=body,
                                   headers=headers)
    refused(response, 413, "too_large", TOO_LARGE_EDIT)
    assert visitor.client.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"


@pytest.mark.parametrize("path", ["/", "/edit/{}"])
def test_the_pages_forms_refuse_another_media_type_as_the_api_does(visitor, api, record_id,
                                                                   path):
    """Before, an XML body to the page's upload was read as an empty form: "Please give the
    image a name", where the API answered 415 to the same body."""
    page = visitor.client.post(path.format(record_id), data=b"<image/>",
                               content_type="application/xml",
                               headers={"Accept": "application/json",
                                        "X-CSRFToken": visitor.ensure_token()})
    refused(page, 415, "unsupported_media_type",
            "Send the form as multipart/form-data, as the page does.")
    assert assert_error(api.http.post(f"{API}/records", data=b"<image/>",
                                      content_type="application/xml", headers=api.headers()),
                        415, "unsupported_media_type")


@pytest.mark.parametrize("path", ["/", "/edit/{}"])
def test_a_body_without_a_media_type_is_refused_by_the_pages_forms(visitor, api, record_id,
                                                                    path):
    """A form's bytes sent without a Content-Type were read as an empty form ("Please give
    the image a name" for a body that named it); the API answers 415 to the same."""
    body = f"name=cat&image_url={ADDRESS}".encode()
    page = visitor.client.post(path.format(record_id), data=body,
                               headers={"Accept": "application/json",
                                        "X-CSRFToken": visitor.ensure_token()})
    assert page.request.headers.get("Content-Type") is None
    refused(page, 415, "unsupported_media_type",
            "Send the form as multipart/form-data, as the page does.")
    assert_error(api.http.post(f"{API}/records", data=body, headers=api.headers()),
                 415, "unsupported_media_type")
    # Nothing at all is still a form left empty, told what it lacks.
    empty = visitor.client.post("/", headers={"Accept": "application/json",
                                              "X-CSRFToken": visitor.ensure_token()})
    assert (empty.status_code, empty.get_json()["error"]) == (400, "invalid_name")


@pytest.mark.parametrize("content_type", [None, "text/plain", "image/png",
                                          "application/x-www-form-urlencoded"])
def test_a_rename_that_is_not_json_is_refused_as_the_apis(visitor, api, record_id,
                                                          content_type):
    """The page's rename read any body as JSON: text/plain, no type at all, renamed the
    record, where the API's PATCH answered 415."""
    body = b'{"record_name": "Crow"}'
    headers = {"X-CSRFToken": visitor.ensure_token()}
    if content_type:
        headers["Content-Type"] = content_type
    page = visitor.client.put(f"/update/{record_id}", data=body, headers=headers)
    refused(page, 415, "unsupported_media_type",
            'Send a JSON object such as {"record_name": "New name"}, as application/json.')
    assert_error(api.http.patch(f"{API}/records/{record_id}", data=body,
                                headers={**api.headers(), **({"Content-Type": content_type}
                                                             if content_type else {})}),
                 415, "unsupported_media_type")
    assert api.http.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"
    renamed = visitor.client.put(f"/update/{record_id}", json={"record_name": "Crow"},
                                 headers={"X-CSRFToken": visitor.ensure_token()})
    assert renamed.get_json() == {"message": "success", "record_name": "Crow"}


@pytest.mark.parametrize("digits", [4300, 4301, 15000])
def test_a_number_too_long_for_python_is_still_json(api, fetched, digits):
    """Python's int() refuses more than 4,300 digits; such a body is a JSON object all the
    same, and its field is refused by the field's own rule (before: "Send a JSON object")."""
    body = ('{"name": "cat", "image_url": "https://photos.example/cat.jpg", "crop_margin": '
            + "1" * digits + "}")
    answer = api.http.post(f"{API}/records", data=body, content_type="application/json",
                           headers=api.headers())
    assert (answer.status_code, answer.get_json()) == (400, {
        "error": "invalid_options",
        "message": ("The crop margin must be a whole number of percent from 0 to 100, such "
                    "as 10 (no % sign).")})
    assert fetched == []


def test_an_edit_sent_a_new_photo_is_told_the_fields_it_takes(api, record_id):
    """The body was multipart: an edit keeps its photo, so `image` is a field it does not
    take (before: "image is a file: send it with multipart/form-data")."""
    answer = api.edit(record_id, {"image": (io.BytesIO(photo()), "new.jpg")})
    refused(answer, 400, "invalid_body", "Unknown field 'image': send only image_name, output, "
                                         "background, crop, crop_margin, format, refine_edges, "
                                         "background_image.")
    assert api.http.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"


@pytest.mark.parametrize("coding", ["gzip", "br, gzip"])
def test_a_body_in_a_content_coding_is_a_415_at_every_door(api, visitor, coding):
    """Read as it came, a gzipped JSON body was "Send a JSON object"; now it is told why."""
    import gzip

    body = gzip.compress(json.dumps({"image_url": ADDRESS}).encode())
    message = ("Request bodies are read as sent: send this one without Content-Encoding "
               f"(here {coding}).")
    for client, path, headers in (
            (api.http, f"{API}/records", api.headers()),
            (visitor.client, "/", {"X-CSRFToken": visitor.ensure_token(),
                                   "Accept": "application/json"})):
        response = client.post(path, data=body, content_type="application/json",
                               headers={**headers, "Content-Encoding": coding})
        refused(response, 415, "unsupported_media_type", message)
    plain = api.http.post(f"{API}/records", json={"name": "cat", "image_url": ADDRESS},
                          headers={**api.headers(), "Content-Encoding": "identity"})
    assert plain.status_code != 415



@pytest.mark.parametrize("body, field", [
    ({"name": "Crow"}, "'name'"), ({"image_name": "Crow"}, "'image_name'"),
    ({"record_name": "Crow", "x": 1}, "'x'"), ({"record_name": "Crow", "a": 1, "b": 2}, "'a'")])
def test_a_rename_with_a_field_it_does_not_take_is_told_which_as_the_apis(visitor, api,
                                                                          record_id, body, field):
    """The page's rename read record_name alone: {"name": "Crow"} was told to give the image
    a name, and an unknown field beside record_name was ignored, where PATCH refuses it."""
    page = visitor.client.put(f"/update/{record_id}", json=body,
                              headers={"X-CSRFToken": visitor.ensure_token()})
    refused(page, 400, "invalid_body", f"Unknown field {field}: send only record_id, record_name.")
    assert api.http.get(f"{API}/records/{record_id}").get_json()["image_name"] == "Raven"
    renamed = visitor.client.put(f"/update/{record_id}",
                                 json={"record_id": record_id, "record_name": "Crow"},
                                 headers={"X-CSRFToken": visitor.ensure_token()})
    assert renamed.get_json() == {"message": "success", "record_name": "Crow"}
