"""The page: `GET /` lists the visitor's images, `POST /` uploads a new one."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app import extensions
from app.config import human_size
from app.web import uploading
from app.web.answers import back_to_page, wants_json
from app.web.protections import limit_uploads
from app.web.serialise import record_json
from app.web.visitor import current_visitor

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    visitor = current_visitor()
    records = extensions.records().list(visitor)
    settings = extensions.settings()
    return render_template(
        "index.html",
        records=records,
        user_limit=settings.user_limit,
        name_max=uploading.NAME_MAX,
        max_upload=settings.max_content_length,
        max_upload_text=human_size(settings.max_content_length),
        demo_storage=extensions.demo_storage(),
        engine=extensions.engine().name,
    )


@bp.post("/")
@limit_uploads
def upload():
    try:
        done = uploading.upload(current_visitor(), request.form.get("name"),
                                request.files.get("image"), request.form)
    except uploading.Rejected as exc:
        return back_to_page(exc.message, "danger", exc.status, exc.error)
    if wants_json():
        return {**record_json(done.record), "note": done.note}, 201
    return back_to_page(done.message, "success", 302, "")
