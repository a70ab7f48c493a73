"""The OpenAPI 3.0 document of the API, served at /api/v1/openapi.json.

Built from the same constants the code uses (name length, output options, image kinds), so
the two cannot drift apart on those; `tests/test_api_openapi.py` checks that every route is
described and every described path is a route, and schemathesis checks the answers.
"""

from __future__ import annotations

import copy
import sys
from functools import cache

from app.api.errors import PREFIX
from app.imaging import ACCEPTED_FORMATS
from app.output import FORMATS, OUTPUTS
from app.storage import KINDS
from app.web.uploading import NAME_MAX

VERSION = "1.0.0"
DEFAULT_BACKGROUND = "#ffffff"  # as the page's colour picker starts
CONTENT_TYPES = sorted(ACCEPTED_FORMATS.values())  # what an upload or a result can be
JSON = "application/json"


def _object(properties: dict, required: list[str] | None = None, **extra) -> dict:
    return {"type": "object", "additionalProperties": False,
            "required": list(properties) if required is None else required,
            "properties": properties, **extra}


# Python's whitespace (what the name is trimmed of), literally: a name must have something
# else in it. Written out so the document and the server agree on every character.
WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": f"[^{WHITESPACE}]",
        "description": f"1 to {NAME_MAX} characters, not only spaces; leading and trailing "
                       "spaces are removed."}
IMAGE = _object({
    "url": {"type": "string", "description": "The bytes (`GET`), cacheable, with an ETag."},
    "download_url": {"type": "string",
                     "description": "The same bytes as an attachment named after the record."},
    "content_type": {"type": "string", "enum": CONTENT_TYPES},
    "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
    "width": {"type": "integer", "minimum": 1},
    "height": {"type": "integer", "minimum": 1},
})
OPTIONS = _object({
    "output": {"type": "string", "enum": list(OUTPUTS)},
    "background": {"type": "string", "nullable": True, "pattern": "^#[0-9a-f]{6}$",
                   "description": "Set only when output is `color`."},
    "crop": {"type": "boolean"},
    "crop_margin": {"type": "integer", "minimum": 0, "maximum": 100},
    "format": {"type": "string", "enum": list(FORMATS)},
}, description="How the processed image was made.")
RECORD = _object({
    "id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
    "image_name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
    "created_on": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
                   "description": "`YYYY-MM-DD HH:MM:SS`, UTC (the original app's format)."},
    "engine": {"type": "string", "description": "What removed the background: `local` or "
                                                "`rapidapi`."},
    "options": {"$ref": "#/components/schemas/Options"},
    **{kind: {"$ref": "#/components/schemas/Image"} for kind in KINDS},
})
CREATED = copy.deepcopy(RECORD)
CREATED["properties"]["note"] = {
    "type": "string",
    "description": "Empty, or why a fallback engine made the image instead of the usual one.",
}
CREATED["required"].append("note")

ERROR_CODES = {
    "bad_request": "the request could not be read",
    "csrf_failed": "403: the X-CSRFToken header is missing or wrong (see `GET /session`)",
    "invalid_body": "a field the operation does not take, a field sent twice, or (rename) "
                    "not a JSON object with only `image_name`",
    "invalid_parameter": "a query parameter is not one of its documented values",
    "invalid_name": f"the name is missing, empty or longer than {NAME_MAX} characters",
    "missing_image": "no file in the `image` field",
    "invalid_options": "an output option is not one of the documented values",
    "invalid_image": "not a JPEG, PNG or WebP, damaged, animated (415) or too many pixels "
                     "(413)",
    "too_large": "the request body is over the upload limit",
    "unsupported_media_type": "the body is not of the documented media type",
    "not_found": "no such record for this visitor, or no such endpoint",
    "method_not_allowed": "the path exists, the method does not (see the `Allow` header)",
    "limit_reached": "the visitor already keeps as many images as allowed",
    "engine_failed": "the background-removal engine failed: 502, quota used up (429), "
                     "unavailable (503) or too slow (504)",
    "internal_error": "an unexpected failure, logged on the server",
    "storage_unavailable": "503: the database is unavailable, nothing was changed; try "
                           "again after `Retry-After` seconds",
    "rate_limited": "429: too many uploads in a short time; try again after `Retry-After` "
                    "seconds",
    # Codes an error of that status gets when nothing more specific applies, e.g. from a
    # rate limiter or while the database is down.
    "too_many_requests": "429: too many requests, try again later (see `Retry-After`)",
    "service_unavailable": "503: a service the API needs is unavailable, try again later",
}


def _error(description: str, *codes: str) -> dict:
    schema = copy.deepcopy(ERROR)
    schema["properties"]["error"]["enum"] = list(codes)
    return {"description": description + " (`" + "`, `".join(codes) + "`).",
            "content": {JSON: {"schema": schema}}}


ERROR = _object({
    "error": {"type": "string", "description": "Stable code, for programs.",
              "enum": list(ERROR_CODES)},
    "message": {"type": "string", "description": "What happened and what to do, for people."},
})
INTERNAL = _error("Unexpected failure", "internal_error")
NOT_FOUND = _error("No such record for this visitor", "not_found")
CSRF = _error("Missing or wrong CSRF token", "csrf_failed")
# Query `download`: a boolean, or 0/1 as in the records' own `download_url`s.
DOWNLOAD = {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]}
RECORD_ID = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "A record id; ids of other visitors' records answer 404."}
# What a client can do next with a record it created (also what schemathesis's stateful
# tests follow).
LINKS = {
    name: {"operationId": operation, "parameters": {"record_id": "$response.body#/id"}}
    for name, operation in (("GetRecord", "getRecord"), ("RenameRecord", "renameRecord"),
                            ("DeleteRecord", "deleteRecord"), ("GetImage", "getImage"))
}
CSRF_SECURITY = [{"csrfToken": []}]
BOOLEAN_FIELD = {"type": "string", "enum": ["true", "false", "1", "0", "on", "off", "yes", "no"]}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


UPLOAD = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "image"],
    "properties": {
        "name": NAME,
        "image": {"type": "string", "format": "binary", "minLength": 1,
                  "description": "A JPEG, PNG or WebP still image, within the upload limit "
                                 "and the pixel limit."},
        "output": {"type": "string", "enum": list(OUTPUTS), "default": "transparent",
                   "description": "`transparent` cutout, subject over a `color`, or the "
                                  "`mask` alone."},
        "background": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$",
                       "default": DEFAULT_BACKGROUND,
                       "description": "The colour behind the subject with output `color`; "
                                      "checked, then ignored, with the other outputs."},
        "crop": {**BOOLEAN_FIELD, "default": "false",
                 "description": "Crop to the subject."},
        "crop_margin": {"type": "integer", "minimum": 0, "maximum": 100, "default": 5,
                        "description": "Margin around the subject when cropping, in percent "
                                       "of its longer side."},
        "format": {"type": "string", "enum": list(FORMATS), "default": "png"},
    },
}


def _paths() -> dict:
    return {
        "/session": {"get": {
            "operationId": "getSession",
            "summary": "Start a session: cookies and a CSRF token for the unsafe methods",
            "description": "Sets the signed `user_id` cookie (the visitor) on a first call and "
                           "Flask's `session` cookie (which holds the CSRF secret). Send both "
                           "cookies back, and the token in the `X-CSRFToken` header of every "
                           "`POST`, `PATCH` and `DELETE`.",
            "responses": {
                "200": _json(_ref("Session"), "A token and the visitor's limits"),
                "500": INTERNAL,
            },
        }},
        "/records": {
            "get": {
                "operationId": "listRecords",
                "summary": "The visitor's records, newest first",
                "responses": {
                    "200": _json(_ref("RecordList"), "The records"),
                    "500": INTERNAL,
                },
            },
            "post": {
                "operationId": "createRecord",
                "summary": "Upload a photo and remove its background",
                "description": "Same rules as the page: the visitor may keep `user_limit` "
                               "records; one file per request.",
                "security": CSRF_SECURITY,
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": UPLOAD,
                    "encoding": {"image": {"contentType": ", ".join(CONTENT_TYPES)}},
                }}},
                "responses": {
                    "201": {**_json(_ref("CreatedRecord"), "Created",
                                    {"Location": {"description": "The new record's URL",
                                                  "required": True,
                                                  "schema": {"type": "string"}}}),
                            "links": LINKS},
                    "400": _error("Bad request", "invalid_name", "missing_image",
                                  "invalid_options", "invalid_image", "invalid_body",
                                  "bad_request"),
                    "403": CSRF,
                    "409": _error("The visitor's limit is reached", "limit_reached"),
                    "413": _error("Too large", "too_large", "invalid_image"),
                    "415": _error("Not multipart, or not an image we can read",
                                  "unsupported_media_type", "invalid_image"),
                    "429": _error("The engine's quota is used up", "engine_failed"),
                    "500": INTERNAL,
                    "502": _error("The engine failed", "engine_failed"),
                    "503": _error("The engine is unavailable", "engine_failed"),
                    "504": _error("The engine did not answer in time", "engine_failed"),
                },
            },
        },
        "/records/{record_id}": {
            "parameters": [RECORD_ID],
            "get": {
                "operationId": "getRecord",
                "summary": "One record",
                "responses": {
                    "200": _json(_ref("Record"), "The record"),
                    "404": NOT_FOUND,
                    "500": INTERNAL,
                },
            },
            "patch": {
                "operationId": "renameRecord",
                "summary": "Rename a record (the name is all that can change)",
                "security": CSRF_SECURITY,
                "requestBody": {"required": True, "content": {JSON: {"schema": _object(
                    {"image_name": NAME})}}},
                "responses": {
                    "200": _json(_ref("Record"), "The renamed record"),
                    "400": _error("Bad request", "invalid_body", "invalid_name"),
                    "403": CSRF,
                    "404": NOT_FOUND,
                    "415": _error("The body is not JSON", "unsupported_media_type"),
                    "500": INTERNAL,
                },
            },
            "delete": {
                "operationId": "deleteRecord",
                "summary": "Delete a record and both its images",
                "security": CSRF_SECURITY,
                "responses": {
                    "204": {"description": "Deleted"},
                    "403": CSRF,
                    "404": NOT_FOUND,
                    "500": INTERNAL,
                },
            },
        },
        "/records/{record_id}/images/{kind}": {
            "parameters": [
                RECORD_ID,
                {"name": "kind", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(KINDS)},
                 "description": "`original` (the upload, unchanged) or `processed`."},
            ],
            "get": {
                "operationId": "getImage",
                "summary": "An image's bytes",
                "parameters": [
                    {"name": "download", "in": "query", "required": False,
                     "schema": DOWNLOAD,
                     "description": "Save as an attachment named after the record "
                                    "(`my-cat.png`, `my-cat-original.jpg`)."},
                    {"name": "If-None-Match", "in": "header", "required": False,
                     "schema": {"type": "string"},
                     "description": "An ETag from an earlier answer: 304 if unchanged."},
                ],
                "responses": {
                    "200": {
                        "description": "The image",
                        "headers": {
                            "ETag": {"required": True, "schema": {"type": "string"}},
                            "Cache-Control": {"required": True, "schema": {"type": "string"},
                                              "description": "`private`, with a max-age"},
                            "Content-Disposition": {
                                "required": True, "schema": {"type": "string"},
                                "description": "`inline`, or `attachment` with `download`; "
                                               "with the file name either way"},
                        },
                        "content": {ct: {"schema": {"type": "string", "format": "binary"}}
                                    for ct in CONTENT_TYPES},
                    },
                    "304": {"description": "Not modified (the If-None-Match ETag matches)"},
                    "400": _error("Bad `download` value", "invalid_parameter"),
                    "404": NOT_FOUND,
                    "500": INTERNAL,
                },
            },
        },
        "/openapi.json": {"get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0 document")},
        }},
    }


def _add_error(responses: dict, status: str, description: str, code: str) -> None:
    """Document one more error code for `status`, next to those already there."""
    if status not in responses:
        responses[status] = _error(description, code)
        return
    schema = responses[status]["content"][JSON]["schema"]
    schema["properties"]["error"]["enum"].append(code)
    responses[status]["description"] = responses[status]["description"].replace(
        ").", f", `{code}`); or {description.lower()}.")


def _with_outages(paths: dict) -> dict:
    """Every operation that reads or writes records can meet a database outage (503), and
    uploads a rate limit (429)."""
    for path, item in paths.items():
        if path == "/openapi.json":
            continue
        for method, operation in item.items():
            if method == "parameters":
                continue
            _add_error(operation["responses"], "503", "The database is unavailable",
                       "storage_unavailable")
            if operation["operationId"] == "createRecord":
                _add_error(operation["responses"], "429", "Too many uploads in a short time",
                           "rate_limited")
    return paths


@cache
def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "image-background-processor API",
            "version": VERSION,
            "description": (
                "Upload a photo, get it back with the background removed, and manage the "
                "results: the web page's features for programs. A visitor is known by the "
                "signed `user_id` cookie; every record belongs to one visitor, and other "
                "visitors' records answer 404. Unsafe methods need the `X-CSRFToken` header "
                "with a token from `GET /session` (and that call's cookies). Every error "
                "answers JSON `{\"error\": \"<code>\", \"message\": \"...\"}`: `error` is "
                "stable, `message` is for people. Codes: "
                + "; ".join(f"`{code}`: {meaning}" for code, meaning in ERROR_CODES.items())
                + ". An error status from outside the API's routes that none of these fit "
                "carries its HTTP reason in snake case (e.g. `bad_gateway`)."
            ),
        },
        "servers": [{"url": PREFIX}],
        "paths": _with_outages(_paths()),
        "components": {
            "schemas": {
                "Record": RECORD,
                "CreatedRecord": CREATED,
                "Image": IMAGE,
                "Options": OPTIONS,
                "RecordList": _object({
                    "records": {"type": "array", "items": _ref("Record")},
                    "user_limit": {"type": "integer", "minimum": 1,
                                   "description": "How many records the visitor may keep."},
                }),
                "Session": _object({
                    "csrf_token": {"type": "string", "minLength": 1},
                    "csrf_header": {"type": "string", "enum": ["X-CSRFToken"]},
                    "user_limit": {"type": "integer", "minimum": 1},
                    "record_count": {"type": "integer", "minimum": 0},
                    "max_upload_bytes": {"type": "integer", "minimum": 1},
                }),
                "Error": ERROR,
            },
            "securitySchemes": {
                "csrfToken": {
                    "type": "apiKey", "in": "header", "name": "X-CSRFToken",
                    "description": "From `GET /session`; valid with that call's cookies.",
                },
            },
        },
    }
