"""JSON API v1: every endpoint, the same rules as the page, errors always as JSON."""

import io
import json
import re

import pytest
from flask import Flask
from openapi_spec_validator import validate
from openapi_spec_validator.__main__ import main as validator_main
from PIL import Image
from werkzeug.datastructures import MultiDict

from app import create_app
from app.api.schemas import ERRORS as ERROR_CODES
from app.engines import EngineTimeout
from tests.support import API, ApiClient, assert_error, photo, photo_array, use_engine


@pytest.fixture
def other_api(app, fake_engine):
    return ApiClient(app.test_client())


def test_session_sets_the_cookies_and_gives_a_token(client):
    response = client.get(f"{API}/session")
    body = response.get_json()
    assert body["csrf_header"] == "X-CSRFToken" and body["csrf_token"]
    assert (body["user_limit"], body["record_count"]) == (2, 0)
    assert body["max_upload_bytes"] == 15 * 1024 * 1024
    assert client.get_cookie("user_id") is not None
    assert client.get_cookie("session") is not None


def test_create_get_list_rename_download_delete(api, records):
    created = api.create(photo(), name="  my cat  ", output="color", background="#FF0000")
    assert created.status_code == 201
    record = created.get_json()
    assert record["image_name"] == "my cat"
    assert record["note"] == ""
    assert record["options"] == {"output": "color", "background": "#ff0000", "crop": False,
                                 "crop_margin": 5, "format": "png", "refine_edges": False}
    assert created.headers["Location"] == f"{API}/records/{record['id']}"
    assert record["processed"]["url"] == f"{API}/records/{record['id']}/images/processed"

    fetched = api.http.get(created.headers["Location"]).get_json()
    assert fetched == {k: v for k, v in record.items() if k != "note"}
    assert api.list() == [fetched]

    renamed = api.rename(record["id"], {"image_name": "Ginger"})
    assert renamed.status_code == 200 and renamed.get_json()["image_name"] == "Ginger"

    download = api.http.get(record["processed"]["download_url"])
    assert download.status_code == 200 and download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == "attachment; filename=Ginger.png"
    original = api.http.get(record["original"]["url"])
    assert original.data == photo()
    assert original.headers["Content-Disposition"].startswith("inline;")

    deleted = api.delete(record["id"])
    assert deleted.status_code == 204 and deleted.data == b""
    assert "Content-Type" not in deleted.headers  # Flask would call the nothing text/html
    assert api.list() == []
    assert_error(api.http.get(record["original"]["url"]), 404, "not_found")


def test_image_bytes_share_the_pages_caching(api):
    record = api.create(photo()).get_json()
    url = record["processed"]["url"]
    first = api.http.get(url)
    assert "private" in first.headers["Cache-Control"]
    again = api.http.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    # `download=false` is a boolean false, not a request to download.
    not_a_download = api.http.get(url + "?download=false")
    assert not_a_download.headers["Content-Disposition"].startswith("inline;")
    assert api.http.get(url + "?download=true").headers["Content-Disposition"].startswith(
        "attachment;")
    for bad in ("null", "maybe", "1&download=1"):
        assert_error(api.http.get(f"{url}?download={bad}"), 400, "invalid_parameter")


def test_records_made_on_the_page_are_the_same_records(visitor, fake_engine):
    visitor.upload(photo(), name="From the page")
    (record_id,) = visitor.record_ids()
    body = visitor.client.get(f"{API}/records/{record_id}").get_json()
    assert body["image_name"] == "From the page"


def test_the_limit_is_the_pages_limit(api):
    assert api.create(photo(), name="one").status_code == 201
    assert api.create(photo(), name="two").status_code == 201
    body = assert_error(api.create(photo(), name="three"), 409, "limit_reached")
    assert body["message"] == "Max limit reached. Please remove a record."
    assert [r["image_name"] for r in api.list()] == ["two", "one"]


def test_other_visitors_records_are_not_found(api, other_api):
    record_id = api.create(photo()).get_json()["id"]
    assert_error(other_api.http.get(f"{API}/records/{record_id}"), 404, "not_found")
    assert_error(other_api.rename(record_id, {"image_name": "x"}), 404, "not_found")
    assert_error(other_api.delete(record_id), 404, "not_found")
    assert_error(other_api.http.get(f"{API}/records/{record_id}/images/original"), 404,
                 "not_found")
    assert other_api.list() == []
    assert [r["id"] for r in api.list()] == [record_id]


@pytest.mark.parametrize("fields, status, error", [
    ({"name": ""}, 400, "invalid_name"),
    ({"name": "x" * 51}, 400, "invalid_name"),
    # What the page's form forgives, the API does not: the document says what is valid.
    ({"name": " " + "x" * 51 + " "}, 400, "invalid_name"),  # trimmed first: 51 is too long
    ({"name": "\x1f\u3000"}, 400, "invalid_name"),  # only whitespace, as Python sees it
    ({"output": "sepia"}, 400, "invalid_options"),
    ({"output": ""}, 400, "invalid_options"),
    ({"output": "color", "background": "#fff"}, 400, "invalid_options"),
    ({"output": "transparent", "background": "red"}, 400, "invalid_options"),
    ({"crop": "maybe"}, 400, "invalid_options"),
    ({"crop_margin": "101"}, 400, "invalid_options"),
    ({"crop_margin": "5.5"}, 400, "invalid_options"),
    ({"crop_margin": ""}, 400, "invalid_options"),
    # Exactly as sent: a trailing line break is not the end of a value ("$" was, in
    # Python's regular expressions, and "#aabbcc\n" was stored and answered back).
    ({"output": "color", "background": "#aabbcc\n"}, 400, "invalid_options"),
    ({"crop_margin": "5\n"}, 400, "invalid_options"),
    ({"user_id": "someone-else"}, 400, "invalid_body"),
    ({"colour": "#ffffff"}, 400, "invalid_body"),
])
def test_create_refuses_bad_fields(api, fields, status, error):
    assert_error(api.create(photo(), **fields), status, error)
    assert api.list() == []


ONE_LINE = "Please give the image a name without line breaks or control characters."


@pytest.mark.parametrize("name", ["a\x00b", "two\nlines", "tab\there", "esc\x1b[2J"])
def test_create_refuses_a_name_that_is_not_one_line_of_text(api, name):
    body = assert_error(api.create(photo(), name=name), 400, "invalid_name")
    assert body["message"] == ONE_LINE
    assert api.list() == []


@pytest.mark.parametrize("name, message", [
    ("a\x00b", ONE_LINE), ("two\u2029paragraphs", ONE_LINE),
    ("cat\ud800", "The image name holds a character that is not valid text (an unpaired "
                  "surrogate or a U+FFFD replacement character). Please type it again."),
])
def test_rename_refuses_what_cannot_be_a_name_and_says_why(api, name, message):
    record_id = api.create(photo(), name="Raven").get_json()["id"]
    body = assert_error(api.rename(record_id, {"image_name": name}), 400, "invalid_name")
    assert body["message"] == message
    assert api.rename(record_id, {"image_name": " Crow\n"}).status_code == 200  # trimmed
    assert [r["image_name"] for r in api.list()] == ["Crow"]


def test_colour_output_defaults_to_white(api):
    response = api.create(photo(), output="color")
    assert response.status_code == 201
    assert response.get_json()["options"]["background"] == "#ffffff"


def test_create_refuses_a_field_sent_twice(api):
    form = [("name", "one"), ("name", "two"), ("image", (io.BytesIO(photo()), "cat.jpg"))]
    response = api.http.post(f"{API}/records", data=MultiDict(form),
                             content_type="multipart/form-data", headers=api.headers())
    assert_error(response, 400, "invalid_body")


def test_create_accepts_every_documented_option(api):
    response = api.create(photo(), name="x", output="mask", crop="yes", crop_margin="0",
                          format="webp", background="#ABCDEF")
    assert response.status_code == 201
    assert response.get_json()["options"] == {"output": "mask", "background": None,
                                              "crop": True, "crop_margin": 0,
                                              "format": "webp", "refine_edges": False}
    assert response.get_json()["processed"]["content_type"] == "image/webp"


def test_create_refuses_a_missing_or_bad_image(api):
    assert_error(api.create(None), 400, "missing_image")
    assert_error(api.create(b"%PDF-1.4"), 415, "invalid_image")
    assert_error(api.create(photo()[:500]), 400, "invalid_image")


def test_create_needs_a_form_or_json(api):
    response = api.http.post(f"{API}/records", data="name=x", content_type="text/plain",
                             headers=api.headers())
    body = assert_error(response, 415, "unsupported_media_type")
    assert body["message"] == ("Send multipart/form-data with the fields name and image (a "
                               "file), or a photo's address (image_url) as JSON or a "
                               "urlencoded form.")


def test_a_too_large_body_is_413_json(settings, fake_engine):
    app = create_app(settings.changed(max_content_length=50_000))
    use_engine(app, fake_engine)
    api = ApiClient(app.test_client())
    body = assert_error(api.create(photo(size=(1200, 800))), 413, "too_large")
    assert "48.8 KB" in body["message"]


def test_an_engine_failure_keeps_its_status(api, fake_engine):
    fake_engine.error = EngineTimeout()
    body = assert_error(api.create(photo()), 504, "engine_failed")
    assert body["message"].startswith("Failed to generate the image")


@pytest.mark.parametrize("body, status, error", [
    ({"image_name": ""}, 400, "invalid_name"),
    ({"image_name": "  "}, 400, "invalid_name"),
    ({"image_name": "x" * 51}, 400, "invalid_name"),
    ({"image_name": 7}, 400, "invalid_name"),
    ({}, 400, "invalid_body"),  # an edit must change something
    ({"image_name": "ok", "id": "x"}, 400, "invalid_body"),
    (["image_name"], 400, "invalid_body"),
])
def test_rename_refuses_bad_bodies(api, body, status, error):
    record_id = api.create(photo(), name="Raven").get_json()["id"]
    assert_error(api.rename(record_id, body), status, error)
    assert [r["image_name"] for r in api.list()] == ["Raven"]


def test_rename_needs_json(api):
    record_id = api.create(photo()).get_json()["id"]
    response = api.http.patch(f"{API}/records/{record_id}", data="image_name=x",
                              content_type="application/x-www-form-urlencoded",
                              headers=api.headers())
    assert_error(response, 415, "unsupported_media_type")
    malformed = api.http.patch(f"{API}/records/{record_id}", data="{nope",
                               content_type="application/json", headers=api.headers())
    assert_error(malformed, 400, "invalid_body")


@pytest.mark.parametrize("method, path", [
    ("post", "/records"), ("patch", "/records/{id}"), ("delete", "/records/{id}")])
def test_unsafe_methods_need_the_csrf_header(api, method, path):
    record_id = api.create(photo(), name="Mine").get_json()["id"]
    url = API + path.format(id=record_id)
    for headers in ({}, {"X-CSRFToken": "forged"}):
        body = assert_error(getattr(api.http, method)(url, headers=headers), 403, "csrf_failed")
        assert "/api/v1/session" in body["message"]
    assert [r["image_name"] for r in api.list()] == ["Mine"]


def test_a_token_is_bound_to_its_session(api, other_api):
    record_id = api.create(photo()).get_json()["id"]
    response = api.http.delete(f"{API}/records/{record_id}", headers=other_api.headers())
    assert_error(response, 403, "csrf_failed")


@pytest.mark.parametrize("method, path, status, error", [
    ("get", "/nothing", 404, "not_found"),
    ("get", "/records/", 404, "not_found"),
    ("get", "/records/abc/images/thumbnail", 404, "not_found"),
    ("post", "/nothing", 404, "not_found"),
    ("get", "", 404, "not_found"),
    ("put", "/records/abc", 405, "method_not_allowed"),
    ("delete", "/records", 405, "method_not_allowed"),
    ("post", "/session", 405, "method_not_allowed"),
])
def test_unknown_paths_and_methods_answer_json(client, method, path, status, error):
    response = getattr(client, method)(API + path, headers={"Accept": "text/html"})
    assert_error(response, status, error)
    if status == 405:
        assert "GET" in response.headers["Allow"] or "PATCH" in response.headers["Allow"]


@pytest.mark.parametrize("path", [f"{API}//records", "/static//css/app.css",
                                  "/images//abc/original"])
def test_a_doubled_slash_is_not_redirected_to_the_host_it_names(client, path):
    """Werkzeug's default answered 308 to http://<the request's Host>/...: an attacker's
    Host, kept by a cache in front, sent visitors away. The path is as written: 404."""
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404 and "Location" not in response.headers
    if path.startswith(API):
        assert_error(response, 404, "not_found")


def test_nothing_under_api_answers_html(client):
    assert_error(client.get("/api/v2/records", headers={"Accept": "text/html"}), 404,
                 "not_found")
    assert_error(client.get("/api", headers={"Accept": "text/html"}), 404, "not_found")
    # The page's own 404 stays HTML.
    assert client.get("/nothing", headers={"Accept": "text/html"}).mimetype == "text/html"


def test_an_unexpected_failure_is_a_json_500(api, records, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(records, "list", broken)
    body = assert_error(api.http.get(f"{API}/records"), 500, "internal_error")
    assert "fire" not in body["message"]


def test_one_handler_answers_every_error(app):
    """Every error handler registered anywhere is the one in app/http/errors.py, which
    answers JSON under /api/: no other code can answer an API client with HTML."""
    from app.http.errors import handle

    handlers = [handler for scope in app.error_handler_spec.values()
                for by_class in scope.values() for handler in by_class.values()]
    assert handlers and all(handler is handle for handler in handlers)


def document(app: Flask) -> dict:
    return app.test_client().get(f"{API}/openapi.json").get_json()


def test_every_route_is_documented_and_every_documented_operation_is_a_route(app: Flask):
    doc = document(app)
    prefix = doc["servers"][0]["url"]
    documented = {(prefix + path, method.upper())
                  for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


def test_the_document_is_valid_openapi_3_1(client):
    served = client.get(f"{API}/openapi.json")
    assert served.status_code == 200
    assert served.get_json()["openapi"] == "3.1.0"
    validate(served.get_json())  # openapi-spec-validator: the 3.1 meta-schema and more


def test_the_served_document_passes_the_validators_own_command(client, tmp_path, capsys):
    """The command reads with libyaml, which refused the \\u escapes of the name pattern's
    surrogate pairs (helper 100): the document is served as UTF-8."""
    served = tmp_path / "openapi.json"
    served.write_bytes(client.get(f"{API}/openapi.json").data)
    validator_main([str(served)])  # exits 1 on any problem
    assert capsys.readouterr().out.strip() == f"{served}: OK"


def test_each_part_of_a_multipart_body_has_its_content_type(app):
    """Files as images, every other part as text: a validator (openapi-core) read the parts
    of a field of several types (crop, size) as bytes, and refused them (helper 100)."""
    doc = document(app)
    bodies = {op["operationId"]: op["requestBody"]["content"]["multipart/form-data"]
              for item in doc["paths"].values() for op in item.values()
              if "multipart/form-data" in op.get("requestBody", {}).get("content", {})}
    assert sorted(bodies) == ["createRecord", "editRecord", "removeBackground"]
    for body in bodies.values():
        fields = doc["components"]["schemas"][body["schema"]["$ref"].split("/")[-1]]
        assert {name: part["contentType"] for name, part in body["encoding"].items()} == {
            name: "image/jpeg, image/png, image/webp"
            if name in ("image", "background_image") else "text/plain"
            for name in fields["properties"]}


def test_bytes_are_described_as_openapi_3_1_says(app):
    """Not 3.0's `type: string, format: binary`, which a 3.1 validator (openapi-core) takes
    for text: every upload and every image answer failed it (helper 75). A file part has a
    media type and no JSON type; an image answer has no schema."""
    doc = document(app)
    text = json.dumps(doc)
    assert '"binary"' not in text
    parts = [prop for schema in doc["components"]["schemas"].values()
             for name, prop in schema.get("properties", {}).items()
             if name in ("image", "background_image")]
    assert len(parts) == 5 and all(  # upload and removal: image and backdrop; edit: backdrop
        {k: v for k, v in part.items() if k in ("type", "contentMediaType")}
        == {"contentMediaType": "application/octet-stream"} for part in parts)
    image = doc["paths"]["/records/{record_id}/images/{kind}"]["get"]["responses"]["200"]
    assert image["content"] == {"image/png": {}, "image/jpeg": {}, "image/webp": {}}


def test_the_document_holds_the_limits_the_code_enforces(app):
    """Generated from the same models: the numbers are the code's, not copies."""
    from app.core.fields import MARGIN_MAX, NAME_MAX
    from app.core.flags import BOOLEAN_WORDS
    from app.images.outputs import FORMATS, OUTPUTS

    schemas = document(app)["components"]["schemas"]
    upload = schemas["UploadRequest"]["properties"]
    assert upload["name"]["maxLength"] == NAME_MAX
    assert upload["output"]["enum"] == list(OUTPUTS)
    assert upload["format"]["enum"] == list(FORMATS)
    number, text = upload["crop_margin"]["oneOf"]
    assert (number["minimum"], number["maximum"]) == (0, 100)
    assert text["type"] == "string"  # a form's field: what the rule takes, as text
    assert all(re.fullmatch(text["pattern"], str(n)) for n in range(MARGIN_MAX + 1))
    assert re.fullmatch(text["pattern"], "0100") and re.fullmatch(text["pattern"], "007")
    assert not any(re.fullmatch(text["pattern"], v) for v in (
        str(MARGIN_MAX + 1), "6654682", "-1", "1.5", "", "1e2"))
    # A yes/no option: words in a form, true or false in JSON (it said words only).
    for model in ("UploadRequest", "RemoveByAddress", "EditFields"):
        boolean, words = schemas[model]["properties"]["crop"]["oneOf"]
        assert boolean == {"type": "boolean"} and words["type"] == "string"
        # In any case, as the server reads them (helper 75: requests sends "False").
        spelt = [case(word) for word in BOOLEAN_WORDS for case in (str, str.title, str.upper)]
        assert all(re.fullmatch(words["pattern"], word) for word in spelt)
        assert not any(re.fullmatch(words["pattern"], word) for word in (
            "tru", "truee", "", " true", "2", "None", "null"))
    content_types = schemas["Image"]["properties"]["content_type"]["enum"]
    assert len(content_types) == len(set(content_types)), "an enum lists each value once"


def test_every_error_code_the_document_names_is_listed(app):
    """Each response's `error` enum only uses codes from the documented list, each under a
    status it is documented with."""
    doc = document(app)
    used = set()
    for item in doc["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema",
                                                                                      {})
                for part in schema.get("allOf", ()):
                    codes = part.get("properties", {}).get("error", {}).get("enum", ())
                    used.update(codes)
                    assert all(int(status) in ERROR_CODES[code][1] for code in codes)
    assert used <= set(ERROR_CODES)
    assert {"limit_reached", "csrf_failed", "not_found", "too_large"} <= used


@pytest.mark.parametrize("path, allow", [
    (f"{API}/records", "GET, POST, HEAD, OPTIONS"),
    (f"{API}/records/abc", "GET, PATCH, DELETE, HEAD, OPTIONS"),
    ("/v1.0/removebg", "OPTIONS, POST"),  # no key needed to ask what is allowed
    ("/", "GET, POST, HEAD, OPTIONS"),
])
def test_options_says_what_is_allowed_and_nothing_else(client, path, allow):
    """Flask's own answer was a 200 with an empty text/html body (the API answers no HTML),
    and remove.bg's door asked for a key first."""
    response = client.options(path)
    assert (response.status_code, response.data) == (204, b"")
    assert "Content-Type" not in response.headers
    assert sorted(response.headers["Allow"].split(", ")) == sorted(allow.split(", "))


def test_a_damaged_progressive_jpeg_is_a_400_when_decoded_in_its_turn(api, records):
    """The check reads a progressive JPEG's header only (test_imaging.py): its damage is
    found by the one full decode, and answered as the check would have, not as a 500."""
    buf = io.BytesIO()
    Image.fromarray(photo_array("coffee")).save(buf, "JPEG", progressive=True)
    response = api.create(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    assert_error(response, 400, "invalid_image")
    assert response.get_json()["message"] == (
        "The image file is damaged or incomplete. Please upload a whole JPEG, PNG or WebP "
        "image.")
    assert api.list() == []


@pytest.mark.parametrize("body", [
    {}, {"crop_margin": 5}, {"crop_margin": "5"}, {"crop_margin": 5.5}, {"crop_margin": "5%"},
    {"crop_margin": -1}, {"crop_margin": 101}, {"crop": True}, {"crop": "yes"}, {"crop": 1}])
def test_an_edit_is_taken_exactly_when_the_document_allows_it(app, api, record_id, body):
    """A script checks its request against the document first: an empty edit was valid
    there and refused here, and "5" refused there and taken here (helper 65)."""
    from jsonschema import Draft202012Validator

    doc = document(app)
    schema = doc["paths"]["/records/{record_id}"]["patch"]["requestBody"]["content"][
        "application/json"]["schema"]
    # Its $ref ("#/components/…") resolved in a document that holds the components.
    allowed = Draft202012Validator({**schema, "components": doc["components"]}).is_valid(body)
    answer = api.http.patch(f"{API}/records/{record_id}", json=body, headers=api.headers())
    assert (answer.status_code == 200, answer.status_code) == (allowed, 200 if allowed else 400)


def test_every_answer_of_the_front_is_in_the_document(app):
    """A client made from the document met codes it did not know (too_many_requests,
    uri_too_long) and statuses no operation listed (helper 65)."""
    from app.api.schemas import FRONT_ERRORS
    from tests.front import nginx_map

    codes = nginx_map("front_error_code")
    assert len(codes) >= 11 and codes["default"] == "internal_error"
    for status, code in codes.items():
        if status != "default":
            assert status in ERROR_CODES[code][1], (status, code)
    # Every one it may answer to any request (a 404 or 405 only to paths and methods that
    # are no operation: a TRACE, say) is listed for every operation, with its status.
    assert set(FRONT_ERRORS) == {code for status, code in codes.items()
                                 if status not in (404, 405, "default")}
    for path, item in document(app)["paths"].items():
        for method, operation in item.items():
            for status, code in codes.items():
                if code in FRONT_ERRORS:
                    answer = operation["responses"][str(status)]
                    enum = answer["content"]["application/json"]["schema"]["allOf"][1]
                    assert code in enum["properties"]["error"]["enum"], (path, method, status)
            busy = operation["responses"]["429"]
            # Always told, but where a key's photo over its whole day may be refused.
            assert busy["headers"]["Retry-After"]["required"] is ("daily_quota" not in busy[
                "content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"][
                "enum"])
            assert operation["responses"]["502"]["headers"]["Retry-After"]["required"] is False


def test_the_record_in_docs_api_md_has_a_real_records_fields(api):
    """It lacked `model` and `refine_edges`, which every record has (helper 68)."""
    import json
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    shown = json.loads(re.search(r"### A record\n.*?```json\n(.*?)```", text, re.S).group(1))

    def shape(value):
        return ({key: shape(inner) for key, inner in value.items()}
                if isinstance(value, dict) else None)

    made = api.create(photo()).get_json()
    assert made.pop("note") == ""  # POST adds it, as the text says
    assert shape(shown) == shape(made)
