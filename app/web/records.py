"""Rename and delete a record: the page's Edit and Delete buttons call these with fetch."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app import extensions
from app.storage import RecordNotFound
from app.web.answers import json_error, json_object
from app.web.uploading import Rejected, clean_name
from app.web.visitor import current_visitor

bp = Blueprint("records", __name__)
NOT_FOUND = "That image does not exist, or it is not yours."


@bp.put("/update/<record_id>")
def update(record_id: str):
    body = json_object()
    if body is None:
        return json_error("invalid_body",
                          'Send a JSON body such as {"record_name": "New name"}.', 400)
    if "record_id" in body and body["record_id"] != record_id:
        return json_error("id_mismatch", "The record_id in the body does not match the URL.",
                          400)
    try:
        name = clean_name(body.get("record_name"))
        extensions.records().rename(current_visitor(), record_id, name)
    except Rejected as exc:
        return json_error(exc.error, exc.message, exc.status)
    except RecordNotFound:
        return json_error("not_found", NOT_FOUND, 404)
    return jsonify(message="success", record_name=name)


@bp.delete("/remove/<record_id>")
def remove(record_id: str):
    try:
        extensions.records().delete(current_visitor(), record_id)
    except RecordNotFound:
        return json_error("not_found", NOT_FOUND, 404)
    return jsonify(message="success")
