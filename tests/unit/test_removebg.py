"""The remove.bg door (app/removebg): each of remove.bg's fields onto ours, each answer in
remove.bg's shape, every refusal with its status, code and sentence; and the same input
through /api/v1/remove and /v1.0/removebg makes the same bytes."""

import base64
import io
import json
import random
import tracemalloc

import pytest
from PIL import Image

from app.core.errors import Rejected
from app.core.fetching.codes import refused as refused_fetch
from app.http.callers import INVALID, MISSING
from app.http.limits import KEY_DAY, KEY_DAY_WHOLE
from app.http.sizes import JSON_BODY_LIMIT, json_values
from app.removebg.fields import DATA_URL_HEAD, FIELDS, _base64
from app.storage.keys import DEFAULT_PER_MINUTE
from tests.support import FakeEngine, encode, jpeg_claiming, made_key, photo, use_engine
from tests.unit.test_remove import SIZE, jpeg_of, unzipped

KEY = "removebg-test-key-0123"
HEADERS = {"X-Api-Key": KEY}
PHOTO = photo(size=(1000, 800))
LAWN = encode(Image.new("RGB", (50, 40), (10, 200, 30)), "PNG")


@pytest.fixture
def settings(settings):
    return settings.changed(api_keys=f"tester:{KEY}")


@pytest.fixture
def app(app):
    use_engine(app, FakeEngine())
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def removebg(client, data: bytes | None = PHOTO, headers=HEADERS, **fields):
    form = dict(fields)
    if data is not None:
        form["image_file"] = (io.BytesIO(data), "cat.jpg")
    return client.post("/v1.0/removebg", data=form, content_type="multipart/form-data",
                       headers=headers)


def ours(client, data: bytes = PHOTO, **fields):
    form = {"image": (io.BytesIO(data), "cat.jpg"), **fields}
    answer = client.post("/api/v1/remove", data=form, content_type="multipart/form-data",
                         headers=HEADERS)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer


def refused(answer, status: int, code: str, title: str | None = None) -> dict:
    """remove.bg's error shape: one error, its sentence as the title."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    (error,) = answer.get_json()["errors"]
    assert set(error) == {"title", "code", "detail"} and error["code"] == code
    if title is not None:
        assert error["title"] == title
    return error


# Each field onto ours: the same bytes as /api/v1/remove answers for the same thing.
SAME = [
    ({"size": "full"}, {}),
    ({}, {"size": "preview"}),  # remove.bg's default size is preview
    ({"size": "regular"}, {"size": "preview"}),
    ({"size": "small"}, {"size": "preview"}),
    ({"size": "medium"}, {"size": "1.5"}),
    ({"size": "hd"}, {"size": "4"}),
    ({"size": "4k"}, {}),
    ({"size": "auto"}, {}),
    ({"size": "50MP"}, {}),
    ({"size": "full", "format": "png"}, {}),
    ({"size": "full", "format": "webp"}, {"format": "webp"}),
    ({"size": "full", "format": "zip"}, {"format": "zip"}),
    ({"size": "full", "format": "jpg"},  # a JPEG of a cutout: on white, as remove.bg does
     {"output": "color", "background": "#ffffff", "format": "jpeg"}),
    ({"size": "full", "bg_color": "81d4fa"},  # auto: JPEG without transparency
     {"output": "color", "background": "#81d4fa", "format": "jpeg"}),
    ({"size": "full", "bg_color": "#81D4FAff", "format": "png"},
     {"output": "color", "background": "#81d4fa"}),
    ({"size": "full", "bg_color": "fff", "format": "png"},
     {"output": "color", "background": "#ffffff"}),
    ({"size": "full", "bg_color": "green", "format": "png"},
     {"output": "color", "background": "#008000"}),
    ({"size": "full", "bg_color": "81d4fa00"}, {}),  # a transparent colour: no background
    ({"size": "full", "channels": "alpha"}, {"output": "mask"}),
    ({"size": "full", "channels": "alpha", "bg_color": "red"}, {"output": "mask"}),
    ({"size": "full", "channels": "alpha", "format": "jpg"},
     {"output": "mask", "format": "jpeg"}),
    ({"size": "full", "channels": "rgba"}, {}),
    ({"size": "full", "crop": "true"}, {"crop": "true", "crop_margin": "0"}),
    ({"size": "full", "crop": "true", "crop_margin": "10%"},
     {"crop": "true", "crop_margin": "10"}),
    ({"size": "full", "crop": "true", "crop_margin": "10% 10% 10% 10%"},
     {"crop": "true", "crop_margin": "10"}),
    ({"size": "full", "crop": "true", "crop_margin": "100%"},
     {"crop": "true", "crop_margin": "100"}),
    ({"size": "full", "crop": "true", "crop_margin": "0px"},
     {"crop": "true", "crop_margin": "0"}),
    ({"size": "full", "crop": "true", "crop_margin": "0000000000000100%"},
     {"crop": "true", "crop_margin": "100"}),
    ({"size": "full", "crop": "true", "crop_margin": "0 0% 0px 00%"},
     {"crop": "true", "crop_margin": "0"}),
    ({"size": "full", "crop": "true", "crop_margin": "10% 010%"},
     {"crop": "true", "crop_margin": "10"}),
    # Zeros are zero however many: 0000 was told "pixels are not supported" (helper 67).
    ({"size": "full", "crop": "true", "crop_margin": "0000"},
     {"crop": "true", "crop_margin": "0"}),
    ({"size": "full", "crop": "true", "crop_margin": "0" * 100_000 + "7%"},
     {"crop": "true", "crop_margin": "7"}),
    ({"size": "full", "crop": "false", "crop_margin": "10%"}, {}),
    # Python's True and False as `requests` sends them (the removebg client's users).
    ({"size": "full", "crop": "True"}, {"crop": "true", "crop_margin": "0"}),
    ({"size": "full", "add_shadow": "False", "semitransparency": "True"}, {}),
    ({"size": "full", "add_shadow": "NO", "semitransparency": "Off"}, {}),
    # remove.bg answers a photo that is not a car "without shadow, even if set to true".
    ({"size": "full", "add_shadow": "true"}, {}),
    ({"size": "full", "add_shadow": "True", "type": "person", "shadow_opacity": "80"}, {}),
    ({"size": "full", "type": "person", "type_level": "2", "semitransparency": "false",
      "scale": "original", "position": "original", "roi": "0% 0% 100% 100%",
      "add_shadow": "false", "shadow_type": "none", "shadow_opacity": "50"}, {}),
]


@pytest.mark.parametrize("theirs, mine", SAME)
def test_each_field_maps_onto_ours(client, theirs, mine):
    answer = removebg(client, **theirs)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    expected = ours(client, **mine)
    assert answer.mimetype == expected.mimetype
    assert answer.data == expected.data
    assert (answer.headers["X-Width"], answer.headers["X-Height"]) == (
        expected.headers["X-Width"], expected.headers["X-Height"])
    assert answer.headers["X-Type"] == "other"


def test_an_empty_background_file_is_found_empty(client):
    refused(removebg(client, size="full", bg_image_file=(io.BytesIO(b""), "lawn.png")), 400,
            "invalid_background", "The background photo could not be used. The file is "
                                  "empty. Please choose a photo to upload.")


def test_a_background_photo_as_a_file_or_by_address(app, client):
    mine = ours(client, output="image", background_image=(io.BytesIO(LAWN), "lawn.png"))
    as_file = removebg(client, size="full", bg_image_file=(io.BytesIO(LAWN), "lawn.png"))
    assert (as_file.status_code, as_file.mimetype) == (200, "image/jpeg")
    app.extensions["services"].uploads.fetch = (
        lambda url, holder=None: {"https://photos.example/lawn.png": LAWN}[url])
    by_address = removebg(client, size="full", bg_image_url="https://photos.example/lawn.png")
    mine_jpeg = ours(client, output="image", format="jpeg",
                     background_image=(io.BytesIO(LAWN), "lawn.png"))
    assert as_file.data == by_address.data == mine_jpeg.data
    pixel = Image.open(io.BytesIO(mine.data)).getpixel((900, 400))
    assert pixel == (10, 200, 30)  # the lawn, where the cat is not


@pytest.mark.parametrize("spaced", [
    lambda text: base64.encodebytes(PHOTO).decode(),  # MIME's lines of 76, as base64(1) wraps
    lambda text: " \t" + " ".join(text[i:i + 100] for i in range(0, len(text), 100)) + "\r\n",
    lambda text: "\u2028".join(text[i:i + 100] for i in range(0, len(text), 100)),
    # A data URL, as a canvas's toDataURL() gives it (helper 75).
    lambda text: "data:image/jpeg;base64," + text,
    lambda text: "DATA:image/jpeg;name=cat.jpg;base64," + text])
def test_base64_may_be_broken_into_lines_and_spaced(client, spaced):
    text = spaced(base64.b64encode(PHOTO).decode())
    assert text != base64.b64encode(PHOTO).decode()
    answer = client.post("/v1.0/removebg", json={"image_file_b64": text, "size": "full"},
                         headers=HEADERS)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.data == ours(client).data


def test_a_data_urls_header_is_read_within_its_first_1024_characters(client):
    text = base64.b64encode(PHOTO).decode()
    for length, status in ((DATA_URL_HEAD, 200), (DATA_URL_HEAD + 1, 400)):
        header = "data:image/jpeg;name="
        header += "a" * (length - len(header) - len(";base64,")) + ";base64,"
        assert len(header) == length
        answer = client.post("/v1.0/removebg", json={"image_file_b64": header + text},
                             headers=HEADERS)
        assert answer.status_code == status, answer.get_data(as_text=True)


def test_a_field_of_semicolons_costs_a_copy_or_two_not_a_frame_for_each():
    """Matched against the whole field, a data URL's pattern kept a frame for each ";":
    299 MB for these 2 MB (helper 102: 1.6 GB and 7 s for 14 MB, at the price of none)."""
    text = "data:" + ";" * 2_000_000 + ",AAAA"
    tracemalloc.start()
    try:
        with pytest.raises(Rejected, match="not valid base64"):
            _base64(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(text)  # measured 4.0 MB: its ASCII bytes, without the spaces

@pytest.mark.parametrize("how", ["json", "urlencoded", "multipart"])
@pytest.mark.parametrize("photo_field", ["image_file_b64", "image_url"])
def test_a_photo_in_base64_or_by_address_in_any_body(app, client, how, photo_field):
    app.extensions["services"].uploads.fetch = (
        lambda url, holder=None: {"https://photos.example/cat.jpg": PHOTO}[url])
    value = (base64.b64encode(PHOTO).decode() if photo_field == "image_file_b64"
             else "https://photos.example/cat.jpg")
    fields = {photo_field: value, "size": "full"}
    if how == "json":
        answer = client.post("/v1.0/removebg", json=fields, headers=HEADERS)
    else:
        answer = client.post("/v1.0/removebg", data=fields, headers=HEADERS, content_type=(
            "multipart/form-data" if how == "multipart"
            else "application/x-www-form-urlencoded"))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.data == ours(client).data


@pytest.mark.parametrize("how", ["json", "urlencoded"])
@pytest.mark.parametrize(("field", "instead"), [
    ("image_file", "the photo's bytes in base64 as image_file_b64, or its address as image_url"),
    ("bg_image_file", "its address as bg_image_url")])
def test_a_file_field_sent_as_text_is_told_what_to_send(client, how, field, instead):
    """The likely slip: base64 in image_file. It was "not an image we can read"."""
    fields = {"image_file_b64": base64.b64encode(PHOTO).decode(),
              field: base64.b64encode(PHOTO).decode()}
    if field == "image_file":
        del fields["image_file_b64"]
    if how == "json":
        answer = client.post("/v1.0/removebg", json=fields, headers=HEADERS)
    else:
        answer = client.post("/v1.0/removebg", data=fields, headers=HEADERS,
                             content_type="application/x-www-form-urlencoded")
    refused(answer, 400, "invalid_body", f"{field} is a file, and a JSON body or a urlencoded "
                                         f"form holds none: send {instead}, or the file in a "
                                         "multipart form.")


def test_json_when_accepted_as_remove_bg_answers(client):
    answer = removebg(client, headers={**HEADERS, "Accept": "application/json"}, size="full",
                      format="zip")
    assert (answer.status_code, answer.mimetype) == (200, "application/json")
    data = answer.get_json()["data"]
    assert data == {"result_b64": data["result_b64"], "foreground_top": 0,
                    "foreground_left": 0, "foreground_width": 1000,
                    "foreground_height": 800}
    assert base64.b64decode(data["result_b64"]) == ours(client, format="zip").data
    assert answer.headers["X-Credits-Charged"] == "1"


@pytest.mark.parametrize("accept", ["image/*", "application/json"])
def test_the_foregrounds_box_is_in_the_headers_of_either_answer(client, accept):
    """remove.bg sends X-Foreground-Top, -Left, -Width and -Height with the bytes too; the
    box is the whole result (we do not locate the subject), 1000 x 800 here, and a crop's."""
    for fields, box in (({}, ("0", "0", "1000", "800")),
                        ({"crop": "true"}, ("0", "0", "500", "800"))):
        answer = removebg(client, headers={**HEADERS, "Accept": accept}, size="full", **fields)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert tuple(answer.headers[f"X-Foreground-{side}"]
                     for side in ("Top", "Left", "Width", "Height")) == box
        assert (answer.headers["X-Width"], answer.headers["X-Height"]) == box[2:]


@pytest.mark.parametrize("size, credits", [("preview", "0.25"), ("regular", "0.25"),
                                           ("small", "0.25"), ("medium", "1"), ("hd", "1"),
                                           ("full", "1"), ("auto", "1")])
def test_credits_charged_are_remove_bgs(client, size, credits):
    assert removebg(client, size=size).headers["X-Credits-Charged"] == credits


def test_the_zip_is_our_png_split_exactly(client):
    png = Image.open(io.BytesIO(ours(client).data))
    colours, alpha = unzipped(removebg(client, size="full", format="zip").data)
    assert alpha.tobytes() == png.getchannel("A").tobytes()
    assert colours.tobytes() == jpeg_of(png).tobytes()


def test_the_real_model_answers_the_same_through_both_doors(app, client, engine):
    use_engine(app, engine)
    chelsea = photo()
    png = ours(client, chelsea, crop="true", crop_margin="10")
    assert removebg(client, chelsea, size="full", crop="true",
                    crop_margin="10%").data == png.data
    cutout = Image.open(io.BytesIO(png.data))
    colours, alpha = unzipped(removebg(client, chelsea, size="full", crop="true",
                                       crop_margin="10%", format="zip").data)
    assert alpha.tobytes() == cutout.getchannel("A").tobytes()
    assert colours.tobytes() == jpeg_of(cutout).tobytes()
    mask = Image.open(io.BytesIO(removebg(client, chelsea, size="full", crop="true",
                                          crop_margin="10%", channels="alpha").data))
    assert (mask.mode, mask.tobytes()) == ("L", cutout.getchannel("A").tobytes())
    assert mask.getextrema() == (0, 255)  # a subject, and a background


# Refusals: remove.bg's shape and statuses, our codes and sentences.
PX = ("crop_margin in pixels is not supported here: give it in percent of the subject's size, "
      "such as 10%.")
SHADOWS = ("Shadows are not made here, for cars either: leave add_shadow and shadow_type out "
           "(or send false and none).")


@pytest.mark.parametrize("fields, code, title", [
    ({"size": "huge"}, "invalid_size",
     "size must be one of: preview, small, regular, medium, hd, 4k, full, auto, 50MP."),
    ({"type": "cat"}, "invalid_type", None),
    ({"type_level": "9"}, "invalid_type_level", None),
    ({"format": "gif"}, "invalid_format",
     "format must be one of: auto, png, jpg, jpeg, webp, zip."),
    ({"channels": "rgb"}, "invalid_channels", "channels must be one of: rgba, alpha."),
    # Our rule's sentence spoke of "output mask", a field this door does not have.
    ({"channels": "alpha", "format": "zip"}, "invalid_format",
     "A zip holds a result's colours and its alpha, and channels=alpha asks for the alpha "
     "alone: choose format png, jpg, webp or auto."),
    ({"bg_color": "blurple"}, "invalid_bg_color",
     "bg_color must be a hex colour (such as 81d4fa or fff, with or without #) or a colour "
     "name (such as green)."),
    ({"bg_color": "81d4fa77"}, "invalid_bg_color",
     "A semi-transparent bg_color is not supported here: send an opaque colour (6 hex "
     "digits, or 8 ending in ff)."),
    ({"bg_color": "fff", "bg_image_url": "https://photos.example/l.png"},
     "multiple_bg_sources",
     "Send one background: bg_color, bg_image_file or bg_image_url."),
    ({"bg_image_url": "ftp://photos.example/l.png"}, "invalid_bg_image_url", None),
    ({"crop": "true", "crop_margin": "30px"}, "invalid_crop_margin", PX),
    ({"crop": "true", "crop_margin": "30"}, "invalid_crop_margin", PX),
    ({"crop": "true", "crop_margin": "10% 20%"}, "invalid_crop_margin",
     "crop_margin must be one margin for all sides, such as 10%: different margins per side "
     "are not supported here."),
    ({"crop": "true", "crop_margin": "10% " * 100_000}, "invalid_crop_margin",
     "crop_margin takes one margin, or two or four (per side, as remove.bg reads them), such "
     "as 10%."),
    ({"crop": "true", "crop_margin": "10% 10% 10%"}, "invalid_crop_margin",
     "crop_margin takes one margin, or two or four (per side, as remove.bg reads them), such "
     "as 10%."),
    ({"crop": "true", "crop_margin": "0 10%"}, "invalid_crop_margin",
     "crop_margin must be one margin for all sides, such as 10%: different margins per side "
     "are not supported here."),
    ({"crop": "true", "crop_margin": "10.5%"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    ({"crop": "true", "crop_margin": "\U0001f431"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    ({"crop": "true", "crop_margin": "2.5px"}, "invalid_crop_margin", PX),
    # Our rule's sentence asked for "10 (no % sign)", which this door refuses in pixels.
    ({"crop": "true", "crop_margin": "101%"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    ({"crop": "true", "crop_margin": "150%"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    # More digits than int() reads (4,300) were a 500; more than a margin has, a 400.
    ({"crop": "true", "crop_margin": "1" * 4301 + "%"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    ({"crop": "true", "crop_margin": "0101%"}, "invalid_crop_margin",
     "crop_margin must be a whole percentage from 0 to 100, such as 10%."),
    ({"crop": "maybe"}, "invalid_options",
     "crop must be true or false (or 1 or 0, on or off, yes or no)."),
    ({"scale": "50%"}, "invalid_scale", "scale is not supported here: the subject keeps "
                                          "its size in the result. Leave scale out, or send "
                                          "original."),
    ({"position": "center"}, "invalid_position", None),
    ({"roi": "10% 10% 90% 90%"}, "invalid_roi", None),
    # remove.bg shadows cars alone: a car's shadow is asked for what we cannot make.
    ({"add_shadow": "true", "type": "car"}, "invalid_add_shadow", SHADOWS),
    ({"add_shadow": "yes", "type": "car_interior"}, "invalid_add_shadow", SHADOWS),
    ({"add_shadow": "maybe"}, "invalid_add_shadow", SHADOWS),
    ({"shadow_type": "car"}, "invalid_add_shadow", None),
    ({"shadow_opacity": "abc"}, "invalid_shadow_opacity",
     "shadow_opacity must be a whole number from 0 to 100."),
    ({"shadow_opacity": "101"}, "invalid_shadow_opacity",
     "shadow_opacity must be a whole number from 0 to 100."),
    ({"shadow_opacity": "-1"}, "invalid_shadow_opacity",
     "shadow_opacity must be a whole number from 0 to 100."),
    ({"semitransparency": "maybe"}, "invalid_semitransparency",
     "semitransparency must be true or false (or 1 or 0, on or off, yes or no)."),
    ({"semitransparency": "Truth"}, "invalid_semitransparency",
     "semitransparency must be true or false (or 1 or 0, on or off, yes or no)."),
    ({"add_shadow": "True", "type": "car"}, "invalid_add_shadow", SHADOWS),
    ({"name": "cat"}, "invalid_body", None),
    ({"bg_colour": ""}, "invalid_body", "Unknown field 'bg_colour': remove.bg's fields taken "
                                        "here are " + ", ".join(FIELDS) + "."),
    ({"image_url": "https://photos.example/cat.jpg"}, "multiple_sources", None),
])
def test_a_field_we_cannot_take_is_a_400_with_the_reason(client, fields, code, title):
    refused(removebg(client, **fields), 400, code, title)


@pytest.mark.parametrize("opacity", [0, "100", 50])
def test_a_shadow_opacity_without_a_shadow_is_taken_and_ignored(app, client, opacity):
    """Clients send remove.bg's default (50) whether or not they ask for a shadow."""
    app.extensions["services"].uploads.fetch = lambda url, holder=None: PHOTO
    plain = client.post("/v1.0/removebg", json={"image_url": "https://photos.example/c.jpg"},
                        headers=HEADERS)
    shaded = client.post("/v1.0/removebg", json={"image_url": "https://photos.example/c.jpg",
                                                 "shadow_opacity": opacity}, headers=HEADERS)
    assert (plain.status_code, shaded.status_code) == (200, 200)
    assert shaded.data == plain.data


@pytest.mark.parametrize("colour", [123, 0xfff, True, ["fff"]])
def test_a_colour_that_is_not_text_is_refused(client, colour):
    """JSON's 123 was read as the text "123" (#112233)."""
    answer = client.post("/v1.0/removebg", json={"image_url": "https://photos.example/c.jpg",
                                                 "bg_color": colour}, headers=HEADERS)
    refused(answer, 400, "invalid_bg_color",
            "bg_color must be a hex colour (such as 81d4fa or fff, with or without #) or a "
            "colour name (such as green).")


def test_each_photo_refusal(client):
    refused(removebg(client, None), 400, "missing_source")
    for junk in ("not base64!", "data:image/png,not-base64", "data:image/png;base64,!!"):
        refused(removebg(client, None, image_file_b64=junk), 400, "failed_to_read_image",
                "image_file_b64 is not valid base64: send the photo's bytes encoded in base64 "
                "(A-Z, a-z, 0-9, + and /, padded with =), alone or as a data URL's.")
    bmp = encode(Image.new("RGB", (4, 4)), "BMP")
    refused(removebg(client, bmp), 400, "invalid_file_type")  # our 415: remove.bg's 400
    cut_png = encode(Image.new("RGB", (4, 4)), "PNG")[:33]  # its header, then nothing
    for damaged in (jpeg_claiming((7000, 7000)), cut_png):
        refused(removebg(client, damaged), 400, "failed_to_read_image",
                "The image file is damaged or incomplete. Please upload a whole JPEG, PNG or "
                "WebP image.")
    refused(client.post("/v1.0/removebg", data=b"x", content_type="text/plain",
                        headers=HEADERS), 400, "unsupported_media_type")
    refused(client.post("/v1.0/removebg", data=b"[1]", content_type="application/json",
                        headers=HEADERS), 400, "invalid_body")


@pytest.mark.parametrize("field", ["image_file", "image_file_b64", "image_url", "size",
                                   "type", "type_level", "format", "roi", "crop",
                                   "crop_margin", "scale", "position", "channels",
                                   "add_shadow", "shadow_type", "semitransparency",
                                   "bg_color", "bg_image_url", "bg_image_file"])
@pytest.mark.parametrize("value", [[1], {"a": 1}, 7, 1.5, True, "\ud800", "x" * 3000])
def test_any_json_value_of_any_field_is_answered_never_a_500(app, client, field, value):
    app.extensions["services"].uploads.fetch = lambda url, holder=None: PHOTO
    body = {"image_url": "https://photos.example/cat.jpg", "size": "full", field: value}
    if field in ("image_file", "image_file_b64"):
        del body["image_url"]
    answer = client.post("/v1.0/removebg", json=body, headers=HEADERS)
    assert answer.status_code < 500, answer.get_data(as_text=True)
    if answer.status_code != 200:
        refused(answer, answer.status_code, answer.get_json()["errors"][0]["code"])


def test_too_large_is_a_400(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    refused(removebg(client), 400, "file_too_large")


@pytest.mark.parametrize("headers, code, title", [
    ({}, "missing_key", MISSING), ({"X-Api-Key": "not-a-key-0123456789"}, "invalid_key",
                                   INVALID),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_key", None)])
def test_a_missing_or_bad_key_is_remove_bgs_403(client, headers, code, title):
    for answer in (removebg(client, headers=headers), client.get("/v1.0/account",
                                                                 headers=headers)):
        refused(answer, 403, code, title)
        assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize("rejected, status, code", [
    (Rejected("rate_limited", "Too many.", "quota", retry_after=7), 429, "rate_limited"),
    (Rejected("busy", "Busy.", "busy", retry_after=3), 503, "busy"),
    (Rejected("engine_failed", "Failed.", "failed"), 502, "engine_failed"),
    (Rejected("url_timeout", "Slow.", "timeout"), 504, "failed_image_download")])
def test_our_other_statuses_with_their_retry_after(app, client, rejected, status, code):
    def refuse(*args, **kwargs):
        raise rejected

    app.extensions["services"].uploads.remove = refuse
    answer = removebg(client)
    refused(answer, status, code, rejected.message)
    assert answer.headers.get("Retry-After") == (
        str(rejected.retry_after) if rejected.retry_after else None)


@pytest.mark.parametrize("ours, photo_code, background_code", [
    ("invalid_url", "invalid_image_url", "invalid_bg_image_url"),
    ("url_refused", "invalid_image_url", "invalid_bg_image_url"),
    ("url_failed", "failed_image_download", "failed_bg_download"),
    ("url_unavailable", "failed_image_download", "failed_bg_download"),
    ("url_timeout", "failed_image_download", "failed_bg_download")])
def test_a_failed_fetch_has_remove_bgs_code_for_whose_address(app, client, ours, photo_code,
                                                              background_code):
    """Each address fetched in turn, the photo's first: the code says which one failed."""
    failing, fetched = [], []

    def fetch(url, holder=None):
        fetched.append(url)
        if url in failing:
            raise refused_fetch(ours, "No.")
        return PHOTO

    app.extensions["services"].uploads.fetch = fetch
    body = {"image_url": "https://photos.example/cat.jpg",
            "bg_image_url": "https://photos.example/lawn.jpg"}
    for url, code in zip(body.values(), (photo_code, background_code), strict=True):
        failing[:] = [url]
        answer = client.post("/v1.0/removebg", json=body, headers=HEADERS)
        refused(answer, 400, code)
    assert fetched == [body["image_url"], body["image_url"], body["bg_image_url"]]


@pytest.mark.parametrize("level, said", [("none", None), ("1", "other"), ("2", "other"),
                                         ("latest", "other")])
def test_no_type_is_said_for_type_level_none(client, level, said):
    answer = removebg(client, type_level=level)
    assert (answer.status_code, answer.headers.get("X-Type")) == (200, said)


def test_a_real_rate_limit_is_a_429(app):
    key = made_key(app, "shop", "--per-minute", "1")
    client = app.test_client()
    assert removebg(client, headers={"X-Api-Key": key}).status_code == 200
    answer = removebg(client, headers={"X-Api-Key": key})
    refused(answer, 429, "rate_limited")
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_a_spent_daily_cap_is_remove_bgs_402(app):
    """remove.bg answers 402 when the credits are spent: a key's megapixels for the day."""
    key = made_key(app, "shop", "--megapixels-per-day", "1")
    client = app.test_client()
    assert removebg(client, headers={"X-Api-Key": key}).status_code == 200
    answer = removebg(client, headers={"X-Api-Key": key})
    error = refused(answer, 402, "daily_quota", KEY_DAY.format(limit=1))
    assert error["detail"] == "Insufficient credits" and int(answer.headers["Retry-After"]) > 3600


def test_a_photo_over_the_whole_day_is_remove_bgs_402_without_a_wait(app):
    """Charged as the whole cap, a 2 MP key's 12 MP photo was made (helper 93)."""
    key = made_key(app, "shop", "--megapixels-per-day", "2")
    client = app.test_client()
    answer = removebg(client, encode(Image.new("RGB", (4000, 3000)), "PNG"),
                      headers={"X-Api-Key": key}, size="full")
    error = refused(answer, 402, "daily_quota", KEY_DAY_WHOLE.format(cost=12, limit=2))
    assert error["detail"] == "Insufficient credits" and "Retry-After" not in answer.headers


def test_an_unexpected_failure_is_a_500_without_details(app, client):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail")

    app.extensions["services"].uploads.remove = broken
    answer = removebg(client)
    error = refused(answer, 500, "internal_error")
    assert "secret" not in answer.get_data(as_text=True) and error["detail"] == "Server error"


def test_paths_and_methods(client):
    """With a key, with a wrong one and without one: a wrong path or method is told so (the
    paths are public), not taken for a call that lacks its key."""
    for headers in (HEADERS, {"X-Api-Key": "wrong-key-0123456789"}, {}):
        refused(client.get("/v1.0/removebg", headers=headers), 405, "method_not_allowed",
                "GET is not allowed here. Allowed: POST.")
        refused(client.get("/v1.0/nothing", headers=headers), 404, "not_found",
                "There is no such endpoint: remove.bg's API here is POST /v1.0/removebg and "
                "GET /v1.0/account.")
    refused(client.get("/v1.0/account"), 403, "missing_key")


def test_the_account_in_remove_bgs_shape(app, client):
    assert removebg(client, size="full").status_code == 200
    body = client.get("/v1.0/account", headers={"Authorization": f"Bearer {KEY}"}).get_json()
    attributes = body["data"]["attributes"]
    # No daily cap: what the per-minute limit allows in a day, a number clients count
    # down from (remove-bg-api 0.2.1 failed on null after every removal: helper 80).
    day = DEFAULT_PER_MINUTE * 24 * 60
    assert attributes["credits"] == {"total": day, "subscription": day, "payg": 0,
                                     "enterprise": 0}
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}
    key = attributes["key"]
    assert (key["name"], key["megapixels_per_day"], key["today"]["calls"],
            key["today"]["megapixels"]) == ("tester", None, 1, 0.8)
    # The same key, in the same words, as the API's own account says it.
    ours = client.get("/api/v1/account", headers={"Authorization": f"Bearer {KEY}"})
    assert key == ours.get_json() and set(key) == {
        "name", "key_prefix", "per_minute", "megapixels_per_day", "megapixels_left", "today"}


def test_an_accounts_credits_are_what_the_daily_cap_still_allows(app):
    """Counted as the cap counts (one per started megapixel), at both doors: a client that
    is told it has credit is not refused for want of it. Before, the credits were the cap
    less today's exact megapixels (1.2 left here), and the call was refused."""
    key = {"X-Api-Key": made_key(app, "shop", "--megapixels-per-day", "2")}
    client = app.test_client()

    def left() -> tuple:
        credits = client.get("/v1.0/account", headers=key).get_json()["data"]["attributes"][
            "credits"]
        ours = client.get("/api/v1/account", headers=key).get_json()
        assert credits == {"total": credits["total"], "subscription": credits["total"],
                           "payg": 0, "enterprise": 0}
        return credits["total"], ours["megapixels_left"], ours["today"]["megapixels"]

    assert left() == (2, 2, 0)
    assert removebg(client, headers=key, size="full").status_code == 200  # 0.8 MP: 1
    assert left() == (1, 1, 0.8)
    assert removebg(client, headers=key, size="full").status_code == 200
    assert left() == (0, 0, 1.6)
    refused(removebg(client, headers=key, size="full"), 402, "daily_quota",
            KEY_DAY.format(limit=2))


def test_an_account_is_answered_while_the_shared_store_is_down(app):
    """Redis down: the credits are read from this process's own count, as charges then
    are, not a 500 (a reviewer's find: the read had no fallback)."""
    from app.http.limits import Limits

    key = {"X-Api-Key": made_key(app, "shop", "--megapixels-per-day", "2")}
    app.extensions["limits"] = Limits("redis://127.0.0.1:1", "100 per minute", "100 per minute")
    client = app.test_client()
    first = client.get("/api/v1/account", headers=key)  # before any charge finds it down
    assert (first.status_code, first.get_json()["megapixels_left"]) == (200, 2)
    assert removebg(client, headers=key, size="full").status_code == 200  # counted locally
    ours = client.get("/api/v1/account", headers=key)
    assert (ours.status_code, ours.get_json()["megapixels_left"]) == (200, 1)
    credits = client.get("/v1.0/account", headers=key).get_json()["data"]["attributes"][
        "credits"]
    assert credits["total"] == 1


def test_the_sizes_sentence_is_not_the_apis(client):
    """remove.bg's sizes are words; our own API's sentence names ours."""
    assert SIZE not in removebg(client, size="0.5").get_data(as_text=True)


def test_the_fronts_own_errors_here_say_the_kind_the_app_would():
    """nginx answers some requests itself (a body over its limit, the app down): at this
    door in remove.bg's shape, its `detail` from a map that must agree with the app's."""
    import re

    from app.removebg.answers import THEIRS, kind
    from tests.front import NGINX_CONF, nginx_map

    said = nginx_map("front_error_kind")
    (statuses,) = re.findall(r"^\s*error_page ([\d ]+?)\s+/_front/", NGINX_CONF, re.M)
    answered = {400 if s == 494 else s for s in map(int, statuses.split())}  # 494 goes as 400
    assert answered == {400, 404, 405, 413, 414, 429, 500, 501, 502, 503, 504, 505}
    for status in answered:
        assert said.get(status, said["default"]) == kind(status), status
    # Its codes, as the app names them at this door.
    ours, theirs = nginx_map("front_error_code"), nginx_map("front_removebg_code")
    assert theirs.pop("default") == "$front_error_code"
    assert theirs == {status: THEIRS[code] for status, code in ours.items()
                      if code in THEIRS} == {413: "file_too_large"}


@pytest.mark.parametrize("extra", [0, 1])
def test_a_json_body_past_its_photo_holds_at_most_16_kb_of_values(client, extra):
    """A door that takes a photo in base64 reads JSON as large as an upload; a million keys
    in it took 1.9 s and 211 MiB to parse. Values beyond the photo's string are bounded as
    any JSON body's, counted before parsing (each takes a bracket, comma or colon)."""
    padding = [0] * (JSON_BODY_LIMIT - 4 + extra)
    body = json.dumps({"image_file_b64": base64.b64encode(PHOTO).decode(), "pad": padding})
    assert json_values(body.encode()) == JSON_BODY_LIMIT + extra
    answer = client.post("/v1.0/removebg", data=body, headers={
        **HEADERS, "Content-Type": "application/json"})
    if extra:
        refused(answer, 400, "file_too_large", "The JSON body is too large: besides a photo in "
                "base64, it may hold at most 16 KB of other values. Nothing was changed.")
    else:  # read, and its unknown field named
        assert refused(answer, 400, "invalid_body")["title"].startswith("Unknown field 'pad'")


def _old_rule(value: str) -> bytes | None:
    """The rule as first written: every character str.split() splits at deleted, then
    base64 (a text with anything else that is not base64 refused)."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except ValueError:
        return None


def test_base64_is_read_as_splitting_at_every_space_reads_it():
    """The spaces are deleted from the text's UTF-8 (str.translate took 1.6 s for base64 in
    lines ended by U+2028): the same photo or refusal as the rule read on the text."""
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    others = ["é", "😀", "\ud800", "\u3001", "\u200b", "=", "-", "_", "\x00"]
    rng = random.Random(7)
    text = base64.b64encode(PHOTO[:300]).decode()
    for _ in range(3000):
        pieces = list(text)
        for _ in range(rng.randrange(1, 12)):
            pieces.insert(rng.randrange(len(pieces) + 1),
                          rng.choice(spaces * 3 + others if rng.random() < 0.3 else spaces))
        value = "".join(pieces)
        answer = _old_rule(value)
        try:
            assert _base64(value) == answer, repr(value)
        except Rejected:
            assert answer is None, repr(value)



def test_a_margin_in_pixels_is_read_as_its_pattern_read_it():
    """Read without the pattern now (its run of digits backtracked through 14 MB for 0.7 s),
    the same way for every short spelling of these characters."""
    import itertools
    import re

    from app.removebg.fields import _in_pixels

    pattern = re.compile(r"^[0-9]+(\.[0-9]+)?(px)?$")
    for length in range(7):
        for chars in itertools.product("07.px%\u0661", repeat=length):
            text = "".join(chars)
            assert _in_pixels(text) == bool(pattern.fullmatch(text)), text


ADDRESS_RULE = (
    "Give {whose} address in full, starting with http:// or https://, in at most 2048 characters.")


@pytest.mark.parametrize("door, backdrop_field, extra", [
    ("/api/v1/remove", "background_image_url", {"output": "image"}),
    ("/v1.0/removebg", "bg_image_url", {})])
def test_an_address_is_trimmed_and_a_bad_one_named_for_whose_it_is(app, client, door,
                                                                    backdrop_field, extra):
    """A pasted address brings spaces and line breaks along: trimmed, as a name is. A bad
    one says which of the two addresses it is (both said "the photo's")."""
    addresses = {"image_url": "https://photos.example/cat.jpg",
                 backdrop_field: "https://photos.example/lawn.png"}
    fetched = []

    def fetch(url, holder=None):
        fetched.append(url)
        return LAWN if url == addresses[backdrop_field] else PHOTO

    app.extensions["services"].uploads.fetch = fetch

    def post(**fields):
        return client.post(door, data={**addresses, **extra, **fields},
                           content_type="multipart/form-data", headers=HEADERS)

    made = post(image_url=" \t" + addresses["image_url"] + "\r\n",
                **{backdrop_field: "\u3000" + addresses[backdrop_field] + " "})
    assert made.status_code == 200, made.get_data(as_text=True)
    assert fetched == [addresses["image_url"], addresses[backdrop_field]]
    for field, whose in (("image_url", "the photo's"), (backdrop_field, "the background photo's")):
        for bad in ("file:///etc/passwd", " ", "https://" + "a" * 2041):
            answer = post(**{field: bad})
            sentence = ADDRESS_RULE.format(whose=whose)
            if door == "/v1.0/removebg":  # remove.bg's code for whose it is
                refused(answer, 400, "invalid_bg_image_url" if field == backdrop_field
                        else "invalid_image_url", sentence)
            else:
                assert (answer.status_code, answer.get_json()) == (
                    400, {"error": "invalid_url", "message": sentence})
    assert len(fetched) == 2
    # 2,048 characters once trimmed are taken: the limit counts the address, not its spaces.
    answer = post(image_url=" https://" + "a" * 2040 + " ")
    assert answer.status_code == 200
    assert len(fetched) == 4 and fetched[-2] == "https://" + "a" * 2040
