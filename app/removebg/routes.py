"""remove.bg's endpoints, over our core: `POST /v1.0/removebg` reads remove.bg's fields
(multipart, JSON or a urlencoded form), translates them (fields.py), asks the core for the
same removal `POST /api/v1/remove` makes, and answers as remove.bg does (answers.py);
`GET /v1.0/account` says what the calling key may still take today."""

from __future__ import annotations

from flask import Blueprint

from app.core.forms import parse
from app.core.removal import RemoveRequest
from app.http.bodies import sent
from app.http.context import services
from app.http.limits import account, allowance
from app.removebg import answers
from app.removebg.fields import FILES, translated

PREFIX = "/v1.0"
bp = Blueprint("removebg", __name__, url_prefix=PREFIX)


@bp.post("/removebg")
def remove_background():
    # A photo in base64 is a text field (this door's `photos_in_text`) or a JSON string:
    # up to the upload limit, not our forms' small one.
    asked = translated(sent('{"image_url": "https://example.com/cat.jpg", "size": "auto"}',
                            "Send multipart/form-data (with image_file, a file), or JSON or "
                            "a urlencoded form with image_url or image_file_b64.", FILES))
    removal = parse(RemoveRequest, asked.fields)
    return answers.result(asked, services().uploads.remove(removal, pay=allowance))


@bp.get("/account")
def get_account():
    return answers.account(account())

