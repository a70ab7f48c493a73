"""Reading request bodies safely: JSON objects of a bounded size and depth, uploaded files,
and forms, as each front door reads them: the page's as a person filled it in, the API's
exactly as sent."""

from __future__ import annotations

import io
import json

import flask
from flask import current_app, request
from pydantic import BaseModel
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.multipart import BLANK_LINE_RE

from app.core.errors import Rejected, human_size
from app.core.forms import FILES, NOT_TEXT, repeated
from app.http import urlencoded
from app.http.errors import door
from app.http.sizes import (
    JSON_BODY_LIMIT,
    JSON_VALUES_TOO_MANY,
    MAX_FORM_PARTS,
    MAX_PART_HEADERS,
    json_limit,
    json_too_large,
    json_values,
)

# A form's two media types: what a browser's form post and the page's scripts (FormData) send.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
NO_FIELD_NAME = ("A part of the form has no field name: name each part, as in "
                 'Content-Disposition: form-data; name="image".')
NO_FIELD_NAME_PLAIN = ('A field of the form has no name ("=value"): send each one as '
                       "name=value.")
TEXT_FOR_FILE = ("{field} is a file: send the photo as a file part of the form (with a "
                 "filename), not as text.")
ENCODED = ("Request bodies are read as sent: send this one without Content-Encoding "
           "(here {coding}).")
UNREADABLE = ("The form could not be read: it is not valid multipart/form-data (each part "
              "needs a Content-Disposition with a name in UTF-8, between the boundaries).")


def _once(pairs: list) -> dict:
    body = {}
    for key, value in pairs:
        if key in body:
            raise repeated(key)
        body[key] = value
    return body


def _integer(digits: str) -> int | float:
    """A JSON integer; one too long for Python's int() (the interpreter's limit, 4,300
    digits unless set otherwise) is valid JSON all the same, and as large as infinity to
    every rule that reads a number."""
    try:
        return int(digits)
    except ValueError:
        return float(digits)


def json_object(example: str) -> dict:
    """The request's body as a JSON object (another type is refused with a 415), else
    `Rejected` with `example`: malformed, or
    nested too deep for the parser (which Flask's get_json lets escape as a 500). Over
    the door's `json_limit` (a photo in base64 is a larger body than our fields) it is
    `Rejected` with a 413. A key sent twice is `Rejected`, as a form's field is: json.loads
    would keep the last value without a word, and another reader of the same body may keep
    the first."""
    if not request.is_json:
        raise Rejected("unsupported_media_type",
                       f"Send a JSON object such as {example}, as application/json.",
                       "unsupported")
    photos_in_text = door().photos_in_text
    limit = json_limit(photos_in_text)
    too_large = Rejected("too_large", json_too_large(photos_in_text), "too_large")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = request.get_data()  # kept, so a second reader in the request gets it too
    if len(raw) > limit:
        raise too_large
    if len(raw) > JSON_BODY_LIMIT and json_values(raw) > JSON_BODY_LIMIT:
        raise Rejected("too_large", JSON_VALUES_TOO_MANY.format(
            size=human_size(JSON_BODY_LIMIT)), "too_large")
    try:
        body = json.loads(raw, object_pairs_hook=_once, parse_int=_integer)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise Rejected("invalid_body", f"Send a JSON object such as {example}.")
    return body


def sent(example: str, unsupported: str, file_fields: tuple[str, ...] = FILES,
         plain: bool = True) -> dict:
    """The fields as sent in a multipart form (files' bytes from `file_fields`), a JSON
    object, or (`plain`) a urlencoded form; else `Rejected` 415 with `unsupported`."""
    if request.mimetype == "multipart/form-data":
        return form_as_sent(file_fields)
    if request.is_json:
        return json_object(example)
    if plain and request.mimetype == "application/x-www-form-urlencoded":
        return form_as_sent(())
    raise Rejected("unsupported_media_type", unsupported, "unsupported")


def _chosen_files(names) -> dict[str, bytes]:
    """The bytes of the files in fields `names`, leaving out a field where no file was
    chosen (browsers send it with an empty file name then)."""
    return {name: file.read() for name in names
            if (file := request.files.get(name)) is not None and file.filename}


def filled_form(form: type[BaseModel]) -> dict:
    """The page's form for `form` as a person filled it in: surrounding spaces trimmed,
    empty fields left to their defaults, what the model does not take (the CSRF token, say)
    left out, and chosen files' bytes. A body of another type is refused with a 415, as the
    API refuses it, not read as a form left empty ("give the image a name")."""
    # Without a type, only an empty body is a form left empty: one with bytes in it
    # cannot be read (it was read as empty, and answered "give the image a name").
    if request.mimetype not in FORM_TYPES and (request.mimetype or _has_body()):
        raise Rejected("unsupported_media_type", "Send the form as multipart/form-data, as "
                                                 "the page does.", "unsupported")
    files = [name for name in FILES if name in form.model_fields]
    _no_file_as_text(files)
    # A required field of spaces alone is kept as sent, for its own rule to say why it is
    # refused (a name: "at least one visible character", as the API says), not taken for
    # one left empty (helper 95).
    fields = {name: value.strip() or value for name, info in form.model_fields.items()
              if name not in FILES and (value := request.form.get(name, ""))
              and (value.strip() or info.is_required())}
    return fields | _chosen_files(files)


def _no_file_as_text(file_fields) -> None:
    """A photo's field sent as text, not as a file part, is said so: it was read as no photo
    at all. An empty one is a field left empty, as any other."""
    as_text = [name for name in file_fields if request.form.get(name)]
    if as_text:
        raise Rejected("invalid_body", TEXT_FOR_FILE.format(field=as_text[0]))


def _has_body() -> bool:
    return bool(request.content_length) or "Transfer-Encoding" in request.headers


def form_as_sent(file_fields: tuple[str, ...] = FILES) -> dict:
    """A form exactly as sent (the API's document says what is valid; nothing is
    forgiven), each field once; photos' bytes from the files named `file_fields`."""
    names = [name for source in (request.form, request.files)
             for name, _ in source.items(multi=True)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise repeated(twice[0])
    _no_file_as_text(file_fields)
    fields = {name: value for name, value in request.form.items() if name not in file_fields}
    fields.update({name: b"" for name in request.files if name not in file_fields})
    return fields | _chosen_files(file_fields)


class _Parser(FormDataParser):
    """Werkzeug's form parser, raising ValueError for a form it cannot parse (a malformed
    multipart body, a urlencoded one whose bytes are not UTF-8) instead of reading it as
    empty, which would answer "no name" or "no photo" for a form that had both. (A subclass,
    not a functools.partial: on a class, a partial becomes a method from Python 3.14.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, silent=False, **kwargs)

    def _parse_multipart(self, stream, mimetype, content_length, options):
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            return super()._parse_multipart(stream, mimetype, content_length, options)
        raw = stream.read()
        spent = _outside_values(raw, b"--" + boundary)
        if spent is None:  # Werkzeug would search all of it for one, and not find it
            raise ValueError("no boundary")
        if spent > MAX_PART_HEADERS:
            raise RequestEntityTooLarge()
        # The request keeps the stream it was read from, not a second copy of the body.
        return (stream, *super()._parse_multipart(io.BytesIO(raw), mimetype, content_length,
                                                  options)[1:])

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        items = urlencoded.fields(stream.read(), MAX_FORM_PARTS + 1)
        if len(items) > MAX_FORM_PARTS:
            raise RequestEntityTooLarge()
        return stream, self.cls(items), self.cls()


def _outside_values(raw: bytes, delimiter: bytes) -> int | None:
    """The bytes of a multipart body that are not its fields' values: before the first
    `delimiter`, and from each one to the blank line that ends its part's headers (where
    Werkzeug's parser finds it), counted until past MAX_PART_HEADERS; None without a
    delimiter. Werkzeug parses each header line into Python objects, bounded only by a
    text field's size: 15 MB of them took 10 s and 371 MiB at remove.bg's door, and 49
    parts of 180 KB each 8.8 s at the API's."""
    at = raw.find(delimiter)
    if at == -1:
        return None
    spent, end = at, at
    while spent <= MAX_PART_HEADERS and (at := raw.find(delimiter, end)) != -1:
        blank = BLANK_LINE_RE.search(raw, at, at + MAX_PART_HEADERS + 1)
        end = blank.end() if blank else min(len(raw), at + MAX_PART_HEADERS + 1)
        spent += end - at
    return spent


# The methods whose views read a body. A DELETE's is not read, not even for the CSRF token
# (it comes in the X-CSRFToken header): a form sent with one was parsed, and refused if
# malformed or too large, where a JSON body was ignored.
READ_BODIES = ("POST", "PUT", "PATCH")


class Request(flask.Request):
    form_data_parser_class = _Parser

    @property
    def want_form_data_parsed(self) -> bool:
        return self.method in READ_BODIES and super().want_form_data_parsed


def readable_form() -> None:
    """Before anything reads a form (the CSRF check, a view), refuse one that cannot be
    parsed, that has a part without a name (Werkzeug keys it None, which nothing can look
    up), or, urlencoded, past the bounds Werkzeug sets a multipart form only. A body in a
    content coding (gzip, say) is refused as RFC 9110 §8.4 asks, not read as garbage."""
    if request.routing_exception is not None or request.method not in READ_BODIES:
        # No view reads this body: a path or method that does not exist (its 404 or 405,
        # which a form at remove.bg's door, up to 15 MB, was parsed before), or a method
        # whose body is not read.
        return
    coding = request.headers.get("Content-Encoding", "").strip()
    if coding.lower() not in ("", "identity") and _has_body():
        raise Rejected("unsupported_media_type", ENCODED.format(coding=coding[:40]),
                       "unsupported")
    if request.mimetype not in FORM_TYPES:
        return
    if door().photos_in_text:
        request.max_form_memory_size = current_app.config["MAX_CONTENT_LENGTH"]
    plain = request.mimetype == "application/x-www-form-urlencoded"
    if plain:
        if (request.content_length or 0) > request.max_form_memory_size:
            raise RequestEntityTooLarge()
        raw = request.get_data(cache=True, parse_form_data=False)  # the form is parsed from it
        if len(raw) > request.max_form_memory_size:
            raise RequestEntityTooLarge()
        if not urlencoded.escapes_are_utf8(raw):
            raise Rejected("invalid_body", NOT_TEXT.format(field="The form"))
    try:
        names = list(request.form) + list(request.files)
    except ValueError:
        raise Rejected("invalid_body", NOT_TEXT.format(field="The form") if plain
                       else UNREADABLE) from None
    if not all(names):  # None, or ""
        raise Rejected("invalid_body", NO_FIELD_NAME_PLAIN if plain else NO_FIELD_NAME)

