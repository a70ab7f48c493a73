"""`POST /api/v1/remove`: one call per photo, its result answered and stored nowhere (on the
API's blueprint, beside routes.py)."""

from __future__ import annotations

from app.api.openapi import operation
from app.api.routes import PHOTO_ERRORS, bp, photo_request
from app.api.schemas import MODEL_HEADER, SECONDS_HEADER, Removed
from app.core.removal import RemoveByAddress, RemoveRequest
from app.http.context import services
from app.http.downloads import send_result
from app.http.limits import allowance

JSON = "application/json"


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
    asked = photo_request(RemoveRequest, RemoveByAddress)
    done = services().uploads.remove(asked, pay=allowance)
    made, model = done.result, done.masked.model or done.masked.engine
    return send_result(made, {"X-Model": model, "X-Processing-Seconds": f"{done.seconds:.3f}"},
                       lambda data: Removed(image_base64=data, content_type=made.content_type,
                                            width=made.width, height=made.height, model=model,
                                            seconds=round(done.seconds, 3)).model_dump())
