"""The page: `GET /` lists the visitor's images, `POST /` uploads a new one."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request

from app import extensions, imaging
from app.config import human_size
from app.engines import EngineError
from app.output import InvalidOptions, OutputOptions
from app.storage import LimitReached, NewImage
from app.web.answers import back_to_page, wants_json
from app.web.serialise import record_json
from app.web.visitor import current_visitor

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)

NAME_MAX = 50
SUCCESS = "Image generated successfully"
ENGINE_FAILED = "Failed to generate the image"
LIMIT_REACHED = "Max limit reached. Please remove a record."
UNEXPECTED = "Something went wrong"


class Rejected(Exception):
    def __init__(self, message: str, status: int, error: str):
        super().__init__(message)
        self.message, self.status, self.error = message, status, error


def clean_name(value) -> str:
    """An image name: trimmed, 1 to 50 characters, or `Rejected`."""
    name = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(name) <= NAME_MAX:
        raise Rejected(f"Please give the image a name of 1 to {NAME_MAX} characters.", 400,
                       "invalid_name")
    return name


@bp.get("/")
def index():
    visitor = current_visitor()
    records = extensions.records().list(visitor)
    settings = extensions.settings()
    return render_template(
        "index.html",
        records=records,
        user_limit=settings.user_limit,
        name_max=NAME_MAX,
        max_upload=settings.max_content_length,
        max_upload_text=human_size(settings.max_content_length),
        demo_storage=current_app.extensions["demo_storage"],
        engine=extensions.engine().name,
    )


@bp.post("/")
def upload():
    visitor = current_visitor()
    settings = extensions.settings()
    records = extensions.records()
    try:
        name = clean_name(request.form.get("name"))
        upload = request.files.get("image")
        if upload is None or not upload.filename:
            raise Rejected("Please choose an image to upload.", 400, "missing_image")
        # Checked before any engine work; the unique slot index settles parallel races.
        if records.count(visitor) >= settings.user_limit:
            raise LimitReached()
        options = OutputOptions.parse(request.form)
        data = upload.read()
        info = imaging.inspect(data, settings.max_image_pixels)
        cutout = extensions.engine().remove(data, info, options)
        record = records.add(
            visitor, name,
            original=NewImage(data, info.content_type, info.width, info.height),
            processed=NewImage(cutout.data, cutout.content_type, cutout.width, cutout.height),
            engine=cutout.engine, limit=settings.user_limit, options=options.as_dict(),
        )
    except Rejected as exc:
        return back_to_page(exc.message, "danger", exc.status, exc.error)
    except InvalidOptions as exc:
        return back_to_page(exc.message, "danger", 400, "invalid_options")
    except imaging.InvalidImage as exc:
        return back_to_page(exc.message, "danger", exc.status, "invalid_image")
    except LimitReached:
        return back_to_page(LIMIT_REACHED, "danger", 409, "limit_reached")
    except EngineError as exc:
        log.warning("Engine failed: %s", exc.message)
        return back_to_page(f"{ENGINE_FAILED}. {exc.message}", "danger", exc.status,
                            "engine_failed")
    except Exception:
        log.exception("Upload failed unexpectedly")
        return back_to_page(UNEXPECTED, "danger", 500, "internal_error")

    if wants_json():
        return {**record_json(record), "note": cutout.note}, 201
    return back_to_page(f"{SUCCESS}. {cutout.note}" if cutout.note else SUCCESS, "success", 302,
                        "")
