"""The page: `GET /` lists the visitor's images, `POST /` uploads a new one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from app.core.errors import EDITED, SUCCESS, UNEXPECTED, human_size
from app.core.fields import (
    NAME_MAX,
    NEEDS_BACKDROP,
    NO_PHOTO,
    NOT_IN_NAMES,
    REFINE_EDGES_HELP,
    URL_MAX,
)
from app.core.forms import OutputOptions, UploadRequest, parse, rule_of
from app.http.bodies import filled_form
from app.http.callers import CSRF_HEADER
from app.http.context import services
from app.http.errors import wants_json
from app.http.limits import allowance
from app.http.records_json import record_json
from app.http.sizes import too_large_message
from app.http.visitor import current_visitor
from app.images.decoding import EXTENSIONS
from app.images.outputs import ACCEPTED_TEXT, FORMAT_LABELS, FORMATS, OPAQUE
from app.images.thumbnails import SIZES
from app.model_files import MODELS

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    here = services()
    settings = here.settings
    fields = UploadRequest.model_fields
    margin = fields["crop_margin"].metadata
    return render_template(
        "index.html",
        records=here.records.list(current_visitor()),
        user_limit=settings.user_limit,
        demo_storage=here.demo_storage,
        engine=here.engines.name,
        models=_model_choice(here.engines.models()),
        default_model=settings.bg_model,
        # Which model made each result, in the words of the model menu.
        model_labels={name: model.label for name, model in MODELS.items()},
        # What the page's fields and scripts must know of the server's rules, from where
        # they are declared: the template writes it into the page once, as JSON, for the
        # scripts (static/js/rules.js), so a changed rule or sentence is changed here only.
        rules={
            "name_max": NAME_MAX,
            "csrf_header": CSRF_HEADER,  # where the scripts send the page's token
            "thumb_sizes": SIZES,  # the gallery's renditions: at 1x, then 2x
            "not_in_names": NOT_IN_NAMES,  # a regex class's inside
            "url_max": URL_MAX,
            "max_upload": settings.max_content_length,
            "max_upload_text": human_size(settings.max_content_length),
            "accept": list(EXTENSIONS),  # the photos' types, and as the page words them:
            "accepted_text": ACCEPTED_TEXT,
            "opaque": OPAQUE,  # the results JPEG can hold, and that show no checkerboard
            "formats": {name: FORMAT_LABELS[name] for name in FORMATS},  # as the menu says
            "type_labels": {kind: FORMAT_LABELS[name] for name, kind in FORMATS.items()},
            "defaults": {name: fields[name].default for name in OutputOptions.model_fields},
            "refine_edges_help": REFINE_EDGES_HELP,  # what the option does, and its time
            "margin": {"min": next(m.ge for m in margin if hasattr(m, "ge")),
                       "max": next(m.le for m in margin if hasattr(m, "le"))},
            # What the server would answer, said by the page before it sends anything.
            "messages": {
                "name": rule_of(UploadRequest, "name").message,
                "no_photo": NO_PHOTO,
                "no_backdrop": NEEDS_BACKDROP.message,
                "too_large": too_large_message(),  # a GET has no body: the file's sentence
                "success": SUCCESS,  # if a 201's own sentence was lost on the way
                "edited": EDITED,
                "unexpected": UNEXPECTED,
            },
        },
    )


def _model_choice(installed: tuple[str, ...]) -> list[dict]:
    """What the catalogue offers, and whether this server can run each (none: no choice)."""
    if not installed:
        return []
    return [{"name": name, "label": model.label, "installed": name in installed}
            for name, model in MODELS.items()]


@bp.post("/")
def upload():
    """Failures are flashed (app/http/errors.py answers this endpoint with a redirect)."""
    upload = parse(UploadRequest, filled_form(UploadRequest))
    done = services().uploads.upload(current_visitor(), upload, pay=allowance)
    if wants_json():
        # The page says the server's sentence, a fallback's note joined to it here only.
        return {**record_json(done.record, "images.image", note=done.note),
                "message": done.message}, 201
    flash(done.message, "success")
    return redirect(url_for("pages.index"))
