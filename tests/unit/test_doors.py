"""Both front doors answer the same input the same way: one table of names and options is
sent to the page (POST / and POST /edit/<id>, asking for JSON as the page's scripts do) and
to the API (POST /api/v1/records, PATCH /api/v1/records/<id>, as forms), and each answer is
compared case by case: status, error code and sentence, each exact.

Only input both doors read alike is in the table: the page also forgives what a person
types (spaces around a value, an empty field left to its default), which the API, read by
programs, refuses (test_forms.py, test_bodies.py)."""

import io

import pytest
from PIL import Image

from app.core.fetching.codes import refused
from tests.support import API, ApiClient, Visitor, encode, jpeg_claiming, photo

JPEG = ("A JPEG cannot hold transparency: choose PNG or WebP, or put the subject on a "
        "background.")
COLOUR = "Choose a background colour as #rrggbb, e.g. #ffffff."
NAME_RULE = "Please give the image a name of 1 to 50 characters."
MARGIN = "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."

# (fields, status, code, sentence): the answer both doors give. The name field is `name`
# for an upload and `image_name` for an edit; `None` keeps it out of an edit.
NO_VISIBLE = ("Please give the image a name with at least one visible character, not only "
              "spaces or invisible characters such as a zero-width space.")
CASES = {
    "plain": ({"crop": "false"}, 200, None, None),
    "colour": ({"output": "color", "background": "#12ab5F"}, 200, None, None),
    "colour-tail": ({"output": "color", "background": "#123456zz"}, 400, "invalid_options",
                    COLOUR),
    "colour-head": ({"output": "color", "background": "x#123456"}, 400, "invalid_options",
                    COLOUR),
    "colour-short": ({"output": "color", "background": "#12345"}, 400, "invalid_options",
                     COLOUR),
    "colour-named": ({"output": "color", "background": "red"}, 400, "invalid_options", COLOUR),
    "jpeg-transparent": ({"format": "jpeg"}, 400, "invalid_options", JPEG),
    "jpeg-mask": ({"format": "jpeg", "output": "mask"}, 200, None, None),
    "jpeg-colour": ({"format": "jpeg", "output": "color"}, 200, None, None),
    "jpeg-blur": ({"format": "jpeg", "output": "blur"}, 200, None, None),
    "webp-transparent": ({"format": "webp"}, 200, None, None),
    "format-gif": ({"format": "gif"}, 400, "invalid_options",
                   "format must be one of: png, webp, jpeg."),
    "output-bogus": ({"output": "sepia"}, 400, "invalid_options",
                     "output must be one of: transparent, color, image, blur, mask."),
    "margin-0": ({"crop": "true", "crop_margin": "0"}, 200, None, None),
    "margin-100": ({"crop": "true", "crop_margin": "100"}, 200, None, None),
    "margin-101": ({"crop": "true", "crop_margin": "101"}, 400, "invalid_options", MARGIN),
    "margin-negative": ({"crop_margin": "-1"}, 400, "invalid_options", MARGIN),
    "margin-fraction": ({"crop_margin": "2.5"}, 400, "invalid_options", MARGIN),
    "crop-maybe": ({"crop": "maybe"}, 400, "invalid_options",
                   "crop must be true or false (or 1 or 0, on or off, yes or no)."),
    # What `requests` sends for Python's True and False (helper 75): any case is taken.
    "crop-True": ({"crop": "True"}, 200, None, None),
    "refine-False": ({"refine_edges": "False"}, 200, None, None),
    "crop-YES": ({"crop": "YES"}, 200, None, None),
    "crop-tru": ({"crop": "tru"}, 400, "invalid_options",
                 "crop must be true or false (or 1 or 0, on or off, yes or no)."),
    "refine-maybe": ({"refine_edges": "maybe"}, 400, "invalid_options",
                     "refine_edges must be true or false (or 1 or 0, on or off, yes or no)."),
    "image-without-photo": ({"output": "image"}, 400, "invalid_options",
                            "Choose a background photo to put behind the subject."),
    "name-50": ({"name": "x" * 50}, 200, None, None),
    "name-50-padded": ({"name": " " + "x" * 50 + " "}, 200, None, None),  # trimmed, then measured
    "name-51": ({"name": "x" * 51}, 400, "invalid_name", NAME_RULE),
    "name-slash": ({"name": "a/b"}, 200, None, None),  # the download name drops it
    "name-control": ({"name": "a\x07b"}, 400, "invalid_name",
                     "Please give the image a name without line breaks or control characters."),
    "name-invisible": ({"name": "\u200b"}, 400, "invalid_name", NO_VISIBLE),
}
# An upload needs a name; an edit's form left empty keeps it (the page forgives that).
UPLOAD_CASES = {
    **CASES,
    # The page took it for a name left empty: "a name of 1 to 50 characters" (helper 95).
    "name-spaces": ({"name": "   "}, 400, "invalid_name", NO_VISIBLE),
    "name-empty": ({"name": ""}, 400, "invalid_name", NAME_RULE),
}


def answer(response):
    """(status, code, sentence), the same for a success whichever door made it."""
    body = response.get_json()
    status = 200 if response.status_code in (200, 201) else response.status_code
    if status == 200:
        return status, None, None
    return status, body["error"], body["message"]


def _fields(fields: dict, name_field: str) -> dict:
    fields = dict(fields)
    if "name" in fields:
        fields[name_field] = fields.pop("name")
    return fields


def page_upload(visitor: Visitor, fields: dict, data: bytes | None = None):
    form = {"name": "cat", **fields, "csrf_token": visitor.ensure_token(),
            "image": (io.BytesIO(photo() if data is None else data), "cat.jpg")}
    return visitor.client.post("/", data=form, content_type="multipart/form-data",
                               headers={"Accept": "application/json"})


def script_remove(script: ApiClient, data: bytes, **fields):
    """The API's one call, as a form: the photo, and any fields (files as bytes)."""
    form = {name: (io.BytesIO(value), f"{name}.img") if isinstance(value, bytes) else value
            for name, value in {"image": data, **fields}.items()}
    return script.http.post(f"{API}/remove", headers=script.headers(), data=form,
                            content_type="multipart/form-data")


def page_edit(visitor: Visitor, record_id: str, fields: dict):
    form = {**_fields(fields, "image_name"), "csrf_token": visitor.ensure_token()}
    return visitor.client.post(f"/edit/{record_id}", data=form,
                               content_type="multipart/form-data",
                               headers={"Accept": "application/json"})


@pytest.fixture
def page(app, fake_engine):
    return Visitor(app.test_client())


@pytest.fixture
def script(app, fake_engine):
    return ApiClient(app.test_client())


@pytest.mark.parametrize("case", UPLOAD_CASES)
def test_an_upload_is_answered_alike_at_both_doors(page, script, case):
    fields, *expected = UPLOAD_CASES[case]
    at_page = answer(page_upload(page, fields))
    at_api = answer(script.create(photo(), **{"name": "cat", **fields}))
    assert at_page == at_api == tuple(expected)


@pytest.mark.parametrize("case", CASES)
def test_an_edit_is_answered_alike_at_both_doors(page, script, case):
    fields, *expected = CASES[case]
    page_upload(page, {})
    (page_record,) = page.record_ids()
    api_record = script.create(photo()).get_json()["id"]
    at_page = answer(page_edit(page, page_record, fields))
    at_api = answer(script.edit(api_record, _fields(fields, "image_name")))
    assert at_page == at_api == tuple(expected)


@pytest.mark.parametrize("door", ["page", "api"])
def test_a_new_look_and_a_new_name_at_once_keep_both(page, script, door):
    page_upload(page, {})
    (page_record,) = page.record_ids()
    api_record = script.create(photo()).get_json()["id"]
    fields = {"name": "Crow", "output": "mask"}
    if door == "page":
        response = page_edit(page, page_record, fields)
        record = page.client.get(f"/api/v1/records/{page_record}").get_json()
    else:
        response = script.edit(api_record, _fields(fields, "image_name"))
        record = script.http.get(f"/api/v1/records/{api_record}").get_json()
    assert response.status_code == 200
    assert (record["image_name"], record["options"]["output"]) == ("Crow", "mask")


BROKEN_BACKDROP = ("The background photo could not be used. That file is not an image we can "
                   "read. Please upload a JPEG, PNG or WebP image.")


def _broken() -> dict:
    return {"output": "image", "background_image": (io.BytesIO(b"not a photo"), "bg.jpg")}


def test_a_broken_background_photo_is_named_so_at_both_doors(page, script):
    """It was told "That file is not an image we can read" with a good photo beside it; and
    its code is its own, so that the page can keep the photo."""
    expected = (415, "invalid_background", BROKEN_BACKDROP)  # the photo's status
    assert answer(page_upload(page, _broken())) == expected
    assert answer(script.create(photo(), **_broken())) == expected
    page_upload(page, {})
    (page_record,) = page.record_ids()
    api_record = script.create(photo()).get_json()["id"]
    assert answer(page_edit(page, page_record, _broken())) == expected
    assert answer(script.edit(api_record, _broken())) == expected


def test_an_empty_background_file_is_one_sent_and_found_empty_at_every_call(page, script):
    """The one-call removal took it for none ("Choose a background photo"): an empty
    file is falsy."""
    def empty() -> dict:
        return {"output": "image", "background_image": (io.BytesIO(b""), "bg.jpg")}

    expected = (400, "invalid_background", "The background photo could not be used. The "
                                           "file is empty. Please choose a photo to upload.")
    removed = script.http.post(f"{API}/remove", headers=script.headers(),
                               data={"image": (io.BytesIO(photo()), "cat.jpg"), **empty()},
                               content_type="multipart/form-data")
    assert answer(removed) == expected
    assert answer(page_upload(page, empty())) == expected
    assert answer(script.create(photo(), **empty())) == expected
    page_upload(page, {})
    (page_record,) = page.record_ids()
    assert answer(page_edit(page, page_record, empty())) == expected
    assert answer(script.edit(script.create(photo()).get_json()["id"], empty())) == expected


def test_a_background_photo_by_address_that_fails_is_named_so(app, script):
    """With two addresses, "The address answered 404" did not say which."""
    def fetch(url, holder=None):
        if "lawn" in url:
            raise refused("url_failed", "The address answered 404 Not Found.")
        return photo()

    app.extensions["services"].uploads.fetch = fetch
    response = script.http.post(f"{API}/remove", headers=script.headers(), json={
        "image_url": "https://a.example/cat.jpg", "output": "image",
        "background_image_url": "https://a.example/lawn.jpg"})
    assert answer(response) == (400, "url_failed", "The background photo could not be used. "
                                                   "The address answered 404 Not Found.")


DOWNLOAD_RULE = "download must be true or false (or 1 or 0, on or off, yes or no), once."
# `?…` on a full image's address: (status, code, sentence, Content-Disposition's first word).
DOWNLOADS = {
    "": (200, None, None, "inline"),
    "?download=1": (200, None, None, "attachment"),
    "?download=true": (200, None, None, "attachment"),
    "?download=0": (200, None, None, "inline"),
    "?download=false": (200, None, None, "inline"),
    "?download=": (400, "invalid_parameter", DOWNLOAD_RULE, None),
    "?download=maybe": (400, "invalid_parameter", DOWNLOAD_RULE, None),
    # Every flag's words, in any case (crop's and refine_edges' too): one vocabulary.
    "?download=yes": (200, None, None, "attachment"),
    "?download=TRUE": (200, None, None, "attachment"),
    "?download=Off": (200, None, None, "inline"),
    "?download=tru": (400, "invalid_parameter", DOWNLOAD_RULE, None),
    "?download=%C4%B0": (400, "invalid_parameter", DOWNLOAD_RULE, None),  # İ, not ASCII
    "?download=1&download=0": (400, "invalid_parameter", DOWNLOAD_RULE, None),
}


@pytest.mark.parametrize("query", DOWNLOADS)
def test_an_images_download_is_asked_alike_at_both_doors(page, query):
    """The page took any value but 0, false, no and off for "download", where the API
    answered 400 to all but its four: `?download=maybe` saved a file at one door only.
    Then `?download=yes` was refused where `crop=yes` was taken (helper 75). A
    rendition's address ignored it (helper 94): it is asked the same way there."""
    page_upload(page, {})
    (record_id,) = page.record_ids()
    found = []
    for path in (f"/images/{record_id}/processed", f"/images/{record_id}/processed/160",
                 f"{API}/records/{record_id}/images/processed",
                 f"{API}/records/{record_id}/images/original/320"):
        response = page.client.get(path + query, headers={"Accept": "application/json"})
        disposition = response.headers.get("Content-Disposition", "")
        found.append((*answer(response), disposition.split(";")[0] or None))
    assert found == [DOWNLOADS[query]] * 4


def test_a_rendition_is_saved_under_the_records_name(page):
    page_upload(page, {})
    (record_id,) = page.record_ids()
    # With its size: a WebP result's own download is cat.webp (helper 97).
    for kind, name in (("processed", "cat-160.webp"), ("original", "cat-original-160.webp")):
        response = page.client.get(f"/images/{record_id}/{kind}/160?download=1")
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"


def test_a_bad_download_is_told_so_before_a_missing_record(page):
    """Looked up first, a missing record answered 404 where the API had said 400."""
    missing = "6b0ae7287c127ecec3c4cab5"
    for path in (f"/images/{missing}/processed", f"{API}/records/{missing}/images/processed"):
        response = page.client.get(path + "?download=maybe",
                                   headers={"Accept": "application/json"})
        assert answer(response) == (400, "invalid_parameter", DOWNLOAD_RULE)


DAMAGED = ("The image file is damaged or incomplete. Please upload a whole JPEG, PNG or WebP "
           "image.")


def test_a_jpeg_too_short_for_its_size_is_damaged_at_every_door(page, script):
    """2 KB of a 64×64 JPEG whose header says 7000×7000 was cut out as 49 MP everywhere."""
    bomb = jpeg_claiming((7000, 7000))
    expected = (400, "invalid_image", DAMAGED)
    upload = page_upload(page, {}, bomb)
    assert answer(upload) == expected
    assert answer(script.create(bomb)) == expected
    removal = script_remove(script, bomb)
    assert answer(removal) == expected
    assert page.record_ids() == [] and script.list() == []


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


_RED_PNG = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "PNG")
_RED_WEBP = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "WEBP")
# Files that start as one of the three formats but that Pillow cannot open past their
# header: they were told "not an image we can read. Please upload a JPEG, PNG or WebP"
# (415) where a JPEG or WebP damaged further on is a 400 (helper 93).
OPENED_NO_FURTHER = {
    "a PNG's signature alone": _RED_PNG[:8],
    "a PNG cut after its header": _RED_PNG[:33],
    "a PNG whose header's CRC is wrong": _flipped(_RED_PNG, 30),
    "a PNG whose width's byte is wrong": _flipped(_RED_PNG, 16),
    "a JPEG's first marker alone": b"\xff\xd8\xff",
    "a WebP's container alone": _RED_WEBP[:12],
}


@pytest.mark.parametrize("case", OPENED_NO_FURTHER)
def test_a_file_damaged_in_its_header_is_damaged_at_every_door(page, script, case):
    bad = OPENED_NO_FURTHER[case]
    expected = (400, "invalid_image", DAMAGED)
    assert [answer(page_upload(page, {}, bad)), answer(script.create(bad)),
            answer(script_remove(script, bad))] == [expected] * 3


@pytest.mark.parametrize("file_format", ["JPEG", "PNG", "WEBP"])
def test_an_exif_pillow_cannot_write_is_taken_at_every_door(page, script, file_format):
    """Turned upright, not a 500 (helper 79: the turn wrote the EXIF back, and failed)."""
    from tests.unit.test_imaging import exif_pillow_cannot_write

    odd = encode(Image.new("RGB", (40, 30), (200, 10, 10)), file_format,
                 exif=exif_pillow_cannot_write(6))
    upload = page_upload(page, {}, odd)
    removal = script_remove(script, odd, output="image", background_image=odd)
    assert [answer(upload), answer(script.create(odd)), answer(removal)] == [
        (200, None, None)] * 3
    assert Image.open(io.BytesIO(removal.data)).size == (30, 40)


def test_a_webp_over_25_megapixels_is_refused_alike_at_every_door(page, script):
    """As photo or as background (helper 79: its decoder's memory took a worker over)."""
    big = encode(Image.new("RGB", (5001, 5000), (90, 120, 150)), "WEBP", lossless=True,
                 method=0)
    small = encode(Image.new("RGB", (40, 30), (200, 10, 10)), "PNG")
    expected = (413, "invalid_image", "This WebP image is too large (5001×5000). A WebP may "
                "have at most 25 megapixels here: please send it as a JPEG or PNG, or smaller.")
    upload = page_upload(page, {}, big)
    removal = script_remove(script, big)
    behind = script_remove(script, small, output="image", background_image=big)
    assert [answer(upload), answer(script.create(big)), answer(removal)] == [expected] * 3
    assert answer(behind) == (413, "invalid_background",
                              "The background photo could not be used. " + expected[2])


@pytest.mark.parametrize("size", [(65_535, 1), (1, 65_535), (65_536, 1), (1, 65_536)])
def test_a_side_of_the_limit_is_taken_and_one_longer_refused_at_every_door(page, script, size):
    """A 10,000,000 × 1 PNG of 29 KB, priced as 10 MP, took 3.7 GB and 23 s of CPU; a tall one
    with refined edges, minutes in Python (helper 67)."""
    from PIL import Image

    thin = encode(Image.new("RGB", size, (90, 120, 150)), "PNG")
    width, height = size
    expected = ((200, None, None) if max(size) == 65_535 else
                (413, "invalid_image", f"The image is too long ({width}×{height}). A side may "
                                       "be at most 65,535 pixels."))
    upload = page_upload(page, {}, thin)
    removal = script_remove(script, thin)
    assert [answer(upload), answer(script.create(thin)), answer(removal)] == [expected] * 3


LAWN_GREEN = (10, 200, 30)


@pytest.mark.parametrize(("given", "output", "corner"), [
    ({"background": "#FF0000"}, "color", (255, 0, 0)),
    ({"background_image": "lawn"}, "image", LAWN_GREEN),
    ({"background_image": "lawn", "background": "#ff0000"}, "image", LAWN_GREEN),
    # An output said is kept: the colour the page's picker always sends is ignored.
    ({"background": "#ff0000", "output": "transparent"}, "transparent", (0, 0, 0, 0)),
])
def test_a_background_sent_without_an_output_asks_for_it_at_every_door(page, script, given,
                                                                        output, corner):
    """A colour or a photo sent without an output was checked, then ignored: a 200 with a
    transparent cutout (helper 75), where remove.bg's bg_color gives a colour. The one-call
    removal's result is looked at (the stand-in engine keeps the left half: the right edge
    is background); the records' options are read back."""
    def fields() -> dict:
        lawn = encode(Image.new("RGB", (40, 30), LAWN_GREEN), "PNG")
        return {k: ((io.BytesIO(lawn), "lawn.png") if v == "lawn" else v)
                for k, v in given.items()}

    removed = script.http.post(f"{API}/remove", data={
        "image": (io.BytesIO(photo()), "cat.jpg"), **fields()},
        content_type="multipart/form-data", headers=script.headers())
    assert removed.status_code == 200, removed.get_json()
    result = Image.open(io.BytesIO(removed.data))
    assert result.getpixel((result.width - 1, result.height // 2)) == corner
    page_upload(page, fields())
    page_upload(page, {})
    made = [script.create(photo(), **fields()).get_json()["id"],
            script.create(photo()).get_json()["id"]]
    assert script.edit(made[1], fields()).status_code == 200
    plain, uploaded = page.record_ids()  # newest first
    assert page_edit(page, plain, fields()).status_code == 200
    for client, record_id in ((script.http, made[0]), (script.http, made[1]),
                              (page.client, uploaded), (page.client, plain)):
        options = client.get(f"{API}/records/{record_id}").get_json()["options"]
        assert (options["output"], options["background"]) == (
            output, "#ff0000" if output == "color" else None), record_id
