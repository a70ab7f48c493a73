"""The forms both front doors validate with: each rule answers with its code and its
sentence, whoever sent the request."""

import re
import unicodedata

import pytest

from app.core.errors import Rejected
from app.core.fields import WHITESPACE
from app.core.forms import (
    EditFields,
    EditRequest,
    OutputOptions,
    RenameRequest,
    UploadByAddress,
    UploadRequest,
    from_address,
    parse,
)

IMAGE = b"bytes of a photo"
OUTPUT_RULE = "output must be one of: transparent, color, image, blur, mask."
ONE_LINE = "Please give the image a name without line breaks or control characters."
INVISIBLE = ("Please give the image a name with at least one visible character, not only "
             "spaces or invisible characters such as a zero-width space.")
NOT_TEXT = ("The name holds a character that is not valid text (an unpaired surrogate or a "
            "U+FFFD replacement character). Please type it again.")


def upload(**fields):
    return parse(UploadRequest, {"name": "cat", "image": IMAGE, **fields})


def refused(form, values) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(form, values)
    return caught.value


def test_defaults():
    request = upload()
    assert request.options == OutputOptions(output="transparent", background=None,
                                            crop=False, crop_margin=5, format="png",
                                            refine_edges=False)
    assert request.background == "#ffffff"


def test_form_values_become_options():
    request = upload(output="color", background="#A0B1C2", crop="true", crop_margin="12",
                     format="webp")
    assert request.options == OutputOptions(output="color", background="#a0b1c2", crop=True,
                                            crop_margin=12, format="webp")
    # A colour picker always sends a value; with another output it is not kept.
    assert upload(output="blur", background="#123456").options.background is None
    # Sent without an output, a background asks for it (helper 75).
    assert upload(background="#123456").options == OutputOptions(
        output="color", background="#123456", crop=False, crop_margin=5, format="png",
        refine_edges=False)
    assert upload(background_image=b"a photo").output == "image"
    assert upload(background_image=b"a photo", background="#123456").output == "image"


@pytest.mark.parametrize("word, value", [("true", True), ("1", True), ("on", True),
                                         ("yes", True), ("false", False), ("0", False),
                                         ("off", False), ("no", False)])
def test_crop_words(word, value):
    assert upload(crop=word).crop is value


@pytest.mark.parametrize("sent", [5, 5.0, "5"])
def test_a_whole_margin_is_taken_as_json_schema_takes_an_integer(sent):
    """JSON's 5.0 is the integer 5 to the OpenAPI document's schema, and so to the rule."""
    margin = upload(crop="true", crop_margin=sent).crop_margin
    assert (margin, type(margin)) == (5, int)


@pytest.mark.parametrize("fields, code, message", [
    ({"output": "sepia"}, "invalid_options", OUTPUT_RULE),
    ({"output": ""}, "invalid_options", OUTPUT_RULE),
    ({"format": "gif"}, "invalid_options", "format must be one of: png, webp, jpeg."),
    ({"format": "WEBP"}, "invalid_options", "format must be one of: png, webp, jpeg."),
    ({"background": "red"}, "invalid_options",
     "Choose a background colour as #rrggbb, e.g. #ffffff."),
    ({"background": "#12345"}, "invalid_options",
     "Choose a background colour as #rrggbb, e.g. #ffffff."),
    ({"crop": "maybe"}, "invalid_options",
     "crop must be true or false (or 1 or 0, on or off, yes or no)."),
    ({"crop_margin": "-1"}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": "101"}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": "5.5"}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": True}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": 5.5}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": float("inf")}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": float("nan")}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"crop_margin": 101.0}, "invalid_options",
     "The crop margin must be a whole number of percent from 0 to 100, such as 10 (no % sign)."),
    ({"output": ["mask"]}, "invalid_options", OUTPUT_RULE),
    ({"name": ""}, "invalid_name", "Please give the image a name of 1 to 50 characters."),
    ({"name": "x" * 51}, "invalid_name", "Please give the image a name of 1 to 50 characters."),
    ({"name": "\x1f\u3000"}, "invalid_name", INVISIBLE),  # only what trimming takes away
    ({"name": "\u00a0\u00a0"}, "invalid_name", INVISIBLE),  # no-break spaces
    ({"name": " "}, "invalid_name", INVISIBLE),
    ({"name": "cat\ud800"}, "invalid_name", NOT_TEXT),
    # What a form's broken bytes and a browser's lone surrogate become: refused alike.
    ({"name": "cat\ufffd"}, "invalid_name", NOT_TEXT),
    ({"name": "\u200b"}, "invalid_name", INVISIBLE),  # zero-width space
    ({"name": " \u200c\u200d\u2060\ufeff "}, "invalid_name", INVISIBLE),  # joiners, BOM
    ({"name": "\u3164\u115f\u1160\uffa0\u2800"}, "invalid_name", INVISIBLE),  # blank letters
    ({"name": "\u200b \U000e0041"}, "invalid_name", INVISIBLE),  # a space between, a tag
    ({"name": "my\tcat"}, "invalid_name", ONE_LINE),
    ({"name": "a\x00b"}, "invalid_name", ONE_LINE),
    ({"name": "cat\x7f"}, "invalid_name", ONE_LINE),
    ({"name": "cat\x9b2J"}, "invalid_name", ONE_LINE),  # the C1 control sequence introducer
    ({"name": "two\u2028lines"}, "invalid_name", ONE_LINE),
    ({"name": "x" * 51 + "\x00"}, "invalid_name", ONE_LINE),  # the more telling sentence
    ({"colour": "#ffffff"}, "invalid_body", "Unknown field 'colour': send only name, image, "
                                            "image_url, model, output, background, "
                                            "background_image, crop, crop_margin, format, "
                                            "refine_edges."),
    ({"crop_margin": "10%"}, "invalid_options", "The crop margin must be a whole number of "
                                                "percent from 0 to 100, such as 10 (no % sign)."),
])
def test_each_rule_answers_with_its_code_and_sentence(fields, code, message):
    exc = refused(UploadRequest, {"name": "cat", "image": IMAGE, **fields})
    assert (exc.code, exc.message, exc.kind) == (code, message, "invalid")


@pytest.mark.parametrize("sent, kept", [
    (" cat\n", "cat"), ("\tcat\r\n", "cat"), ("cat\x85", "cat"),  # spaces around: trimmed
    ("my cat", "my cat"), ("a\u3000b", "a\u3000b"),
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f468\u200d\U0001f469\u200d\U0001f467"),
    ("\u05d7\u05ea\u05d5\u05dc", "\u05d7\u05ea\u05d5\u05dc"),
    ("\u200b cat\u200b ", "\u200b cat\u200b"), ("\u3164a", "\u3164a"),  # one visible is enough
])
def test_one_line_names_are_kept(sent, kept):
    assert upload(name=sent).name == kept


def test_the_characters_kept_out_of_names_are_exactly_the_controls_and_separators():
    import sys

    from app.core.fields import NOT_IN_NAMES

    scanned = {c for c in map(chr, range(sys.maxunicode + 1))
               if unicodedata.category(c) in ("Cc", "Zl", "Zp")}
    assert {c for c in map(chr, range(sys.maxunicode + 1))
            if re.fullmatch(f"[{NOT_IN_NAMES}]", c)} == scanned


@pytest.mark.parametrize("name", [
    "cat", " cat ", "\tcat\n", "a b", "", " ", "\x1f\u3000", "a\x00b", "a\tb", "\x00",
    "cat\x7f", "a\u2028", "a\u2028b", "\u2029cat", "x" * 50, "x" * 51, " " + "x" * 50,
    " " + "x" * 51, "\U0001f600", "a\x85b", "a\x85",
    "\u200b", " \u200b ", "\u200b \u200b", "\u200bcat", "cat\u200b", "\u200b cat", "\ufeff",
    "\u3164", "\u2800", "\u3164 \u2800", "\u3164a", "\U000e0041", "\U000e0041x", "\xad",
    "\u200b\tcat", "\u200b\x00", "\u2028\u200b", "\u200b\u3000a", "a\ufffd", "\ufffd",
    "\u200b\ufffd", "\U0001f468\u200d\U0001f469", "\u200d\U0001f469", "\u200b" * 50 + "a",
])
def test_the_documented_pattern_says_what_the_server_does(name):
    """The OpenAPI document's `pattern`, and its `minLength` and `maxLength` once the name is
    trimmed as its description says (what a client may check before sending), accept
    exactly the names the server keeps."""
    schema = UploadRequest.model_json_schema()["properties"]["name"]
    documented = (schema["minLength"] <= len(name.strip(WHITESPACE)) <= schema["maxLength"]
                  and re.search(schema["pattern"], name) is not None)
    try:
        upload(name=name)
        kept = True
    except Rejected:
        kept = False
    assert documented == kept


def test_a_missing_image_and_a_missing_name():
    assert refused(UploadRequest, {"name": "cat"}).code == "missing_image"
    assert refused(UploadRequest, {"image": IMAGE}).code == "invalid_name"


def test_an_unknown_field_is_reported_before_anything_else():
    assert refused(UploadRequest, {"name": "", "user_id": "x"}).code == "invalid_body"


def test_names_are_trimmed_before_the_rules():
    assert upload(name="  my cat  ").name == "my cat"
    # The rule is on the name once trimmed: 50 letters with a space either side are kept.
    assert upload(name=" " + "x" * 50 + " ").name == "x" * 50
    assert refused(UploadRequest, {"name": " " + "x" * 51, "image": IMAGE}).code == (
        "invalid_name")


def test_the_invisible_characters_are_the_format_characters_and_the_blank_letters():
    """INVISIBLE is written out as of Unicode 16: every Cf of this Python's tables is in it,
    and what else it holds is a blank letter or not yet assigned in an older Python."""
    import sys

    from app.core.fields import INVISIBLE

    blank = set("\u115f\u1160\u2800\u3164\uffa0")
    written = {c for c in map(chr, range(sys.maxunicode + 1))
               if re.fullmatch(f"[{INVISIBLE}]", c)}
    assert {c for c in map(chr, range(sys.maxunicode + 1))
            if unicodedata.category(c) == "Cf"} <= written
    assert {unicodedata.category(c) for c in written - blank} <= {"Cf", "Cn"}
    assert not {c for c in written if c.isspace()}


@pytest.mark.parametrize("form, field", [
    (EditFields, "image_name"), (EditFields, "output"), (EditFields, "background"),
    (EditFields, "crop"), (EditFields, "crop_margin"), (EditFields, "format"),
    (EditFields, "refine_edges"), (EditRequest, "background_image"), (UploadRequest, "model"),
    (UploadRequest, "image_url"), (UploadRequest, "background_image"),
])
def test_null_is_no_value_of_an_optional_field(form, field):
    """Left out, a field keeps its value (or takes its default); null is refused with the
    field's code, not taken for left out."""
    values = {"name": "cat", "image": IMAGE} if form is UploadRequest else {"crop": "true"}
    exc = refused(form, {**values, field: None})
    code = {"image_name": "invalid_name", "image_url": "invalid_url"}.get(field,
                                                                         "invalid_options")
    assert (exc.code, exc.message) == (
        code, f"{field} cannot be null: send a value, or leave the field out.")
    assert "default" not in form.model_json_schema()["properties"][field]


def test_an_upload_by_address_is_the_upload_without_its_file_fields():
    upload = from_address(UploadRequest, UploadByAddress, {
        "name": " cat ", "image_url": "https://example.com/cat.jpg", "crop": "yes",
        "background": "#AABBCC", "output": "color"})
    assert isinstance(upload, UploadRequest)
    assert (upload.name, upload.image, upload.crop, upload.options.background) == (
        "cat", None, True, "#aabbcc")
    schema = UploadByAddress.model_json_schema()
    assert set(schema["properties"]) == set(UploadRequest.model_fields) - {
        "image", "background_image"}
    assert schema["required"] == ["name", "image_url"]
    assert schema["properties"]["name"] == UploadRequest.model_json_schema()[
        "properties"]["name"]


@pytest.mark.parametrize("values, code, message", [
    ({"name": "cat"}, "missing_image",
     "Give the photo's address as image_url (a file needs multipart/form-data)."),
    ({"name": "cat", "image": "abc"}, "invalid_body",
     "image is a file: send it with multipart/form-data."),
    ({"name": "cat", "image_url": "https://example.com/a.jpg", "background_image": "x"},
     "invalid_body", "background_image is a file: send it with multipart/form-data."),
    ({"name": "cat", "image_url": "https://example.com/a.jpg", "output": "image"},
     "invalid_options", "Output image puts a photo of yours behind the subject: send it as "
                        "background_image, with multipart/form-data."),
    ({"name": "\u200b", "image_url": "https://example.com/a.jpg"}, "invalid_name", INVISIBLE),
    ({"name": "cat", "image_url": "http://example.com/\ufffd.jpg"}, "invalid_url",
     NOT_TEXT.replace("The name", "The image url")),
])
def test_an_upload_by_address_refuses_what_needs_a_file(values, code, message):
    exc = refused(UploadByAddress, values)
    assert (exc.code, exc.message) == (code, message)


@pytest.mark.parametrize("body", [{"image_name": 7}, {}, {"image_name": "  "},
                                  {"image_name": "a\udfff"}])
def test_rename_refuses_what_is_not_a_name(body):
    assert refused(RenameRequest, body).code == "invalid_name"


def test_rename_refuses_other_fields():
    assert refused(RenameRequest, {"image_name": "ok", "id": "x"}).code == "invalid_body"
    assert parse(RenameRequest, {"image_name": " Crow "}).image_name == "Crow"


def test_the_written_out_whitespace_is_exactly_pythons():
    """What names are trimmed of and what the document's pattern excludes: every character
    str.isspace() calls whitespace, no more and no fewer."""
    import sys

    from app.core.fields import WHITESPACE

    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == WHITESPACE
