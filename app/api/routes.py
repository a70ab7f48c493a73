"""The API's routes. Each one is a thin shell over what the page already does: the
repository for records, `uploading.upload` for a new one, `images.send_image` for bytes."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_wtf.csrf import generate_csrf

from app import extensions
from app.api import errors, fields
from app.api.openapi import DEFAULT_BACKGROUND, document
from app.storage import RecordNotFound
from app.web import images, uploading
from app.web.answers import json_object
from app.web.protections import limit_uploads
from app.web.serialise import record_json
from app.web.visitor import current_visitor

bp = Blueprint("api", __name__)
errors.init_blueprint(bp)

IMAGE_ENDPOINT = "api.image"
RENAMABLE = {"image_name"}


def _record(record) -> dict:
    return record_json(record, IMAGE_ENDPOINT)


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/session")
def session():
    """A CSRF token for the unsafe methods; the response also sets the cookies it is
    bound to (the visitor's `user_id` and Flask's `session`)."""
    visitor = current_visitor()
    settings = extensions.settings()
    return jsonify(
        csrf_token=generate_csrf(),
        csrf_header="X-CSRFToken",
        user_limit=settings.user_limit,
        record_count=extensions.records().count(visitor),
        max_upload_bytes=settings.max_content_length,
    )


@bp.get("/records")
def list_records():
    records = extensions.records().list(current_visitor())
    return jsonify(records=[_record(r) for r in records],
                   user_limit=extensions.settings().user_limit)


@bp.post("/records")
@limit_uploads
def create_record():
    if request.mimetype != "multipart/form-data":
        return errors.error(
            "unsupported_media_type",
            "Send multipart/form-data with the fields name and image (a file).", 415)
    try:
        fields.check_upload(request.form, request.files)
        options = request.form.to_dict()
        options.setdefault("background", DEFAULT_BACKGROUND)
        done = uploading.upload(current_visitor(), request.form.get("name"),
                                request.files.get("image"), options)
    except uploading.Rejected as exc:
        return errors.error(exc.error, exc.message, exc.status)
    response = jsonify({**_record(done.record), "note": done.note})
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_record", record_id=done.record.id)
    return response


@bp.get("/records/<record_id>")
def get_record(record_id: str):
    try:
        record = extensions.records().get(current_visitor(), record_id)
    except RecordNotFound:
        return errors.error("not_found", errors.NOT_FOUND, 404)
    return jsonify(_record(record))


@bp.patch("/records/<record_id>")
def rename_record(record_id: str):
    if not request.is_json:
        return errors.error("unsupported_media_type",
                            'Send a JSON body such as {"image_name": "New name"}.', 415)
    body = json_object()
    if body is None or not body.keys() <= RENAMABLE:
        return errors.error("invalid_body",
                            'Send a JSON object with only image_name, such as '
                            '{"image_name": "New name"}.', 400)
    records = extensions.records()
    visitor = current_visitor()
    try:
        fields.check_name(body.get("image_name"))
        name = uploading.clean_name(body.get("image_name"))
        records.rename(visitor, record_id, name)
        record = records.get(visitor, record_id)
    except uploading.Rejected as exc:
        return errors.error(exc.error, exc.message, exc.status)
    except RecordNotFound:
        return errors.error("not_found", errors.NOT_FOUND, 404)
    return jsonify(_record(record))


@bp.delete("/records/<record_id>")
def delete_record(record_id: str):
    try:
        extensions.records().delete(current_visitor(), record_id)
    except RecordNotFound:
        return errors.error("not_found", errors.NOT_FOUND, 404)
    return "", 204


@bp.get("/records/<record_id>/images/<kind>")
def image(record_id: str, kind: str):
    try:
        fields.download_flag(request.args.getlist("download"))
    except uploading.Rejected as exc:
        return errors.error(exc.error, exc.message, exc.status)
    return images.send_image(record_id, kind)
