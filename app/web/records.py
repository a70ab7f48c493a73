"""Rename, restyle and delete a record: the page's Edit and Delete buttons call these with
fetch, rename and delete in the original app's shapes. The core does the work, as for the
API."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, url_for

from app.core.errors import EDITED, Rejected
from app.core.forms import EditRequest, RenameRequest, parse, unknown_field
from app.http.bodies import filled_form, json_object
from app.http.context import services
from app.http.errors import wants_json
from app.http.limits import allowance
from app.http.records_json import record_json
from app.http.visitor import current_visitor

bp = Blueprint("records", __name__)
RENAME_FIELDS = ("record_id", "record_name")  # the original app's body


@bp.put("/update/<record_id>")
def update(record_id: str):
    body = json_object('{"record_name": "New name"}')
    # Exact, as the API's rename is: {"name": "x"} was told to give the image a name.
    unknown = sorted(body.keys() - set(RENAME_FIELDS))
    if unknown:
        raise unknown_field(unknown[0], RENAME_FIELDS)
    if "record_id" in body and body["record_id"] != record_id:
        raise Rejected("id_mismatch", "The record_id in the body does not match the URL.")
    request = parse(RenameRequest, {"image_name": body.get("record_name")})
    record = services().edits.rename(current_visitor(), record_id, request.image_name)
    return jsonify(message="success", record_name=record.image_name)


@bp.delete("/remove/<record_id>")
def remove(record_id: str):
    services().gallery.delete(current_visitor(), record_id)
    return jsonify(message="success")


@bp.post("/edit/<record_id>")
def restyle(record_id: str):
    """The page's "Edit result" form: how a result looks, made again without the model.
    Failures are flashed, as the upload form's are (app/http/errors.py)."""
    edit = parse(EditRequest, filled_form(EditRequest))
    record = services().edits.edit(current_visitor(), record_id, edit, pay=allowance)
    if wants_json():
        return record_json(record, "images.image")
    flash(EDITED, "success")
    return redirect(url_for("pages.index"))
