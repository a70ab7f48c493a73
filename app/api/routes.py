"""The API's routes: each parses with the core's forms, calls the core, answers JSON. The
`@operation` beside each is what the OpenAPI document says of it."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_wtf.csrf import generate_csrf

from app.api import openapi
from app.api.openapi import JSON, operation
from app.api.schemas import (
    MODEL_HEADER,
    SECONDS_HEADER,
    Account,
    RecordList,
    Removed,
    Session,
)
from app.core.forms import (
    EditFields,
    EditRequest,
    UploadByAddress,
    UploadRequest,
    from_address,
    parse,
)
from app.core.removal import RemoveByAddress, RemoveRequest
from app.http.bodies import sent
from app.http.callers import CSRF_HEADER, caller
from app.http.context import services
from app.http.downloads import ImageQuery, send_image, send_result
from app.http.limits import account, allowance
from app.http.records_json import CreatedRecord, Record, record_json
from app.http.visitor import current_visitor
from app.images.thumbnails import SIZES
from app.storage import ID_PATTERN, KINDS

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX)
RECORD_ID = ("A record id; ids of other visitors' records answer 404.",
             {"pattern": ID_PATTERN})
KIND = ("`original` (the upload, unchanged) or `processed`.", {"enum": list(KINDS)})
# What every image's bytes are answered with (app/http/downloads.py).
DOWNLOAD_HEADERS = {
    "ETag": "The version of these bytes",
    "Cache-Control": "`private, no-cache`: kept, and revalidated on each use",
    "Accept-Ranges": "`bytes`: one range of bytes asked for in `Range` is answered 206",
    "Content-Disposition": "`inline`, or `attachment` with `download`; with the record's "
                           "file name either way"}
IMAGE_ENDPOINT = "api.image"
# What reading a photo (a file or an address) and cutting it out can answer: every call
# that takes one says so.
PHOTO_ERRORS = ("missing_image", "invalid_options", "invalid_image", "invalid_background",
                "invalid_body", "bad_request", "too_large", "unsupported_media_type",
                "engine_failed",
                "busy", "rate_limited", "daily_quota", "invalid_url", "url_refused",
                "url_failed", "url_unavailable", "url_timeout")


@bp.get("/openapi.json")
@operation(id="getOpenApi", summary="This document", returns="document", storage=False,
           keys=False, returns_description="OpenAPI 3.1 document")
def openapi_document():
    # The same for the app's whole life: generated once, on first request.
    # As UTF-8, not \u escapes: libyaml, which openapi-spec-validator's command reads with,
    # refuses the name pattern's escaped surrogate pairs (helper 100).
    extensions = current_app.extensions
    if "openapi_document" not in extensions:
        extensions["openapi_document"] = json.dumps(
            openapi.document(current_app, PREFIX), ensure_ascii=False).encode()
    return current_app.response_class(extensions["openapi_document"], mimetype=JSON)


@bp.get("/session")
@operation(id="getSession", summary="Start a session: cookies and a CSRF token for the "
                                    "unsafe methods",
           description="Sets the signed `user_id` cookie (the visitor) on a first call and "
                       "Flask's `session` cookie (which holds the CSRF secret). Send both "
                       f"cookies back, and the token in the `{CSRF_HEADER}` header of every "
                       "`POST`, `PATCH` and `DELETE`.",
           returns=Session, returns_description="A token and the visitor's limits")
def session():
    here = services()
    # A token lives in the session cookie: a key, which needs none, is given none.
    return jsonify(Session(
        csrf_token=None if caller() else generate_csrf(), csrf_header=CSRF_HEADER,
        user_limit=here.settings.user_limit,
        record_count=here.records.count(current_visitor()),
        max_upload_bytes=here.settings.max_content_length).model_dump())


@bp.get("/account")
@operation(id="getAccount", summary="The API key this call came with: its limits and usage",
           description="Needs a key. Usage is counted per UTC day; the megapixel cap is "
                       "over a rolling 24 hours.",
           returns=Account, returns_description="The key", key_needed=True)
def get_account():
    return jsonify(Account.model_validate(account().described()).model_dump())


@bp.get("/records")
@operation(id="listRecords", summary="The visitor's records, newest first",
           returns=RecordList, returns_description="The records")
def list_records():
    here = services()
    records = here.records.list(current_visitor())
    return jsonify(records=[record_json(r, IMAGE_ENDPOINT) for r in records],
                   user_limit=here.settings.user_limit)


@bp.post("/records")
@operation(id="createRecord", summary="Upload a photo and remove its background",
           description="Same rules as the page: the visitor may keep `user_limit` records; "
                       "one photo per request. A file needs multipart/form-data; a photo "
                       "by address (`image_url`) may also come as JSON or as a urlencoded "
                       "form, with the same fields but the files.",
           body=(("multipart/form-data", UploadRequest), (JSON, UploadByAddress),
                 ("application/x-www-form-urlencoded", UploadByAddress)), status=201,
           returns=CreatedRecord, returns_description="Created",
           headers={"Location": "The new record's URL"}, csrf=True,
           errors=("invalid_name", *PHOTO_ERRORS, "limit_reached"),
           links=("getRecord", "editRecord", "deleteRecord", "getImage"))
def create_record():
    asked = photo_request(UploadRequest, UploadByAddress, '"name": "cat", ', "name and ")
    done = services().uploads.upload(current_visitor(), asked, pay=allowance)
    return (jsonify(record_json(done.record, IMAGE_ENDPOINT, note=done.note)), 201,
            {"Location": url_for("api.get_record", record_id=done.record.id)})


def photo_request(form, by_address, example: str = "", fields: str = ""):
    """A request with a photo, as sent: a `form` with files, or (a photo by address) JSON
    or a plain form, checked as `by_address`; `example` and `fields` name the form's other
    required fields in the sentences."""
    values = sent(f'{{{example}"image_url": "https://example.com/cat.jpg"}}',
                  f"Send multipart/form-data with the fields {fields}image (a file), or a "
                  "photo's address (image_url) as JSON or a urlencoded form.")
    if request.mimetype == "multipart/form-data":
        return parse(form, values)
    return from_address(form, by_address, values)


@bp.get("/records/<record_id>")
@operation(id="getRecord", summary="One record", returns=Record,
           returns_description="The record", errors=("not_found",),
           path={"record_id": RECORD_ID})
def get_record(record_id: str):
    record = services().gallery.get(current_visitor(), record_id)
    return jsonify(record_json(record, IMAGE_ENDPOINT))


@bp.patch("/records/<record_id>")
@operation(id="editRecord", summary="Rename a record, or change how its result looks",
           description="The result is made again from the stored photo and mask: the model "
                       "does not run again (records made before masks were kept get theirs "
                       "on their first edit). Absent fields keep their values. A new "
                       "background photo needs multipart/form-data; JSON does the rest. "
                       "Edits that change the result count against the upload rate limit; "
                       "asking for the options the record already has (and no new "
                       "background photo) answers with the record as it is, counted for "
                       "nothing.",
           body=((JSON, EditFields), ("multipart/form-data", EditRequest)),
           returns=Record, returns_description="The record after the edit", csrf=True,
           errors=("invalid_body", "invalid_name", "invalid_options", "invalid_image",
                   "invalid_background", "not_found", "unsupported_media_type", "too_large",
                   "busy", "conflict", "rate_limited", "daily_quota", "engine_failed"),
           path={"record_id": RECORD_ID})
def edit_record(record_id: str):
    values = sent('{"image_name": "New name"}', 'Send JSON such as {"image_name": "New '
                  'name"}, or multipart/form-data with a background_image.',
                  ("background_image",), plain=False)
    edit = parse(EditFields if request.is_json else EditRequest, values)
    record = services().edits.edit(current_visitor(), record_id, edit, pay=allowance)
    return jsonify(record_json(record, IMAGE_ENDPOINT))


@bp.delete("/records/<record_id>")
@operation(id="deleteRecord", summary="Delete a record and both its images", status=204,
           returns_description="Deleted", csrf=True, errors=("not_found",),
           path={"record_id": RECORD_ID})
def delete_record(record_id: str):
    services().gallery.delete(current_visitor(), record_id)
    return "", 204


@bp.get("/records/<record_id>/images/<kind>")
@operation(id="getImage", summary="An image's bytes", query=ImageQuery, returns="image",
           returns_description="The image", headers=DOWNLOAD_HEADERS,
           errors=("invalid_parameter", "not_found"), conditional=True,
           path={"record_id": RECORD_ID, "kind": KIND})
def image(record_id: str, kind: str):
    return send_image(record_id, kind)


@bp.get("/records/<record_id>/images/<kind>/<int:size>")
@operation(id="getThumbnail", summary="A small WebP rendition of an image",
           description="Made with the record, or on first request for older records.",
           query=ImageQuery, returns="thumbnail", returns_description="The rendition",
           headers=DOWNLOAD_HEADERS, errors=("invalid_parameter", "not_found", "busy"),
           conditional=True,
           path={"record_id": RECORD_ID, "kind": KIND,
                 "size": ("The longest side, in pixels.",
                          {"type": "integer", "enum": list(SIZES)})})
def thumbnail(record_id: str, kind: str, size: int):
    return send_image(record_id, kind, size)


@bp.post("/remove")
@operation(id="removeBackground", summary="Remove a photo's background and answer the result",
           description="The photo (a file, or `image_url`) and the output options of an "
                       "upload, and a `size`; the result is answered, not stored, so the "
                       "gallery's limit does not apply (the rate limits do, priced by the "
                       "pixels worked on: a photo over `size` is scaled down first). The "
                       "bytes by default; JSON with them base64-encoded when `Accept` "
                       "prefers `application/json`. A file needs multipart/form-data; a "
                       "photo by address may also come as JSON or a urlencoded form.",
           body=(("multipart/form-data", RemoveRequest), (JSON, RemoveByAddress),
                 ("application/x-www-form-urlencoded", RemoveByAddress)),
           returns=("result", Removed), returns_description="The result",
           headers={"X-Width": "The result's width, in pixels",
                    "X-Height": "The result's height, in pixels",
                    "X-Model": MODEL_HEADER, "X-Processing-Seconds": SECONDS_HEADER},
           csrf=True, storage=False,
           errors=PHOTO_ERRORS)
def remove_background():
    """One call per photo: its result answered and stored nowhere."""
    asked = photo_request(RemoveRequest, RemoveByAddress)
    done = services().uploads.remove(asked, pay=allowance)
    made, model = done.result, done.masked.model or done.masked.engine
    return send_result(made, {"X-Model": model, "X-Processing-Seconds": f"{done.seconds:.3f}"},
                       lambda data: Removed(image_base64=data, content_type=made.content_type,
                                            width=made.width, height=made.height, model=model,
                                            seconds=round(done.seconds, 3)).model_dump())
