"""The bounds of a form and of a JSON body, and the answer to a body over a bound."""

from __future__ import annotations

from flask import current_app, request

from app.core.errors import human_size

# The upload form has a dozen fields of a few bytes each; anything far beyond is not it.
MAX_FORM_PARTS = 50
# Werkzeug also applies it to its read buffer (64 KB chunks), so it stays well above that.
MAX_FORM_MEMORY_SIZE = 256 * 1024
# A part's headers are a line or two (its name, its type): this bounds them in all, with
# whatever comes before the first part (app/http/bodies.py says why).
MAX_PART_HEADERS = 64 * 1024
# A JSON body is a rename or an address and options; anything much bigger is not one.
JSON_BODY_LIMIT = 16 * 1024
JSON_TOO_LARGE = "The JSON body is too large: it may hold at most {size}. Nothing was changed."
# A door that takes a photo in base64 reads a JSON body as large as an upload, but only the
# photo's string may be large: its other values are bounded as any JSON body's. A million
# keys in 15 MB took 1.9 s and 211 MiB to parse, a list of empty objects 392 MiB.
JSON_VALUES_TOO_MANY = ("The JSON body is too large: besides a photo in base64, it may hold "
                        "at most {size} of other values. Nothing was changed.")
# A script's first try at sending a photo is often base64 in JSON: the size is not its fault.
# The front (k8s/front/nginx.conf) refuses a body far over the limit with this sentence too,
# written out there at the shipped limit (tests/system/test_k8s_front.py holds them equal).
FILE_TOO_LARGE = "The file is too large. Please upload an image of at most {size}."
PHOTO_NOT_IN_JSON = (" A photo is not sent in JSON here: send it as a file part of "
                     "multipart/form-data, or its address as image_url.")


def json_limit(photos_in_text: bool) -> int:
    """The largest JSON body a door reads: an upload's where a photo may come in it as
    base64, else JSON_BODY_LIMIT."""
    return current_app.config["MAX_CONTENT_LENGTH"] if photos_in_text else JSON_BODY_LIMIT


def json_too_large(photos_in_text: bool) -> str:
    """The answer to a JSON body over the door's `json_limit`."""
    message = JSON_TOO_LARGE.format(size=human_size(json_limit(photos_in_text)))
    if request.method == "POST" and not photos_in_text:  # a rename or an edit takes no photo
        message += PHOTO_NOT_IN_JSON
    return message


def json_values(raw: bytes) -> int:
    """A bound from below on the bytes of a JSON body's values other than its strings:
    each key, value and container takes at least one of these (base64 holds none)."""
    return sum(raw.count(mark) for mark in (b"{", b"[", b",", b":"))


def too_large_message(photos_in_text: bool = False) -> str:
    """What was too large: the body (the file, in practice), the form's fields, or a JSON
    body (as large as an upload where a photo may come in it as base64)."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.is_json:
        return json_too_large(photos_in_text)
    fields = human_size(request.max_form_memory_size)
    if request.mimetype == "application/x-www-form-urlencoded":  # no file: all text
        return (f"The form is too large: it may have at most {MAX_FORM_PARTS} fields and "
                f"{fields} in all. Nothing was uploaded.")
    if request.content_length is not None and request.content_length <= limit:
        return (f"The form is too large: it may have at most {MAX_FORM_PARTS} fields, each "
                f"text field at most {fields}, and {human_size(MAX_PART_HEADERS)} of part "
                "headers in all. Nothing was uploaded.")
    return FILE_TOO_LARGE.format(size=human_size(limit))
