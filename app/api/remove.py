"""`POST /api/v1/remove`: one call per photo, its result answered and stored nowhere (on the
API's blueprint, beside routes.py)."""

from __future__ import annotations

import base64

from flask import Response, jsonify, request

from app.api.openapi import operation
from app.api.routes import PHOTO_ERRORS, bp, photo_request
from app.api.schemas import MODEL_HEADER, SECONDS_HEADER, Removed
from app.core.removal import RemoveByAddress, RemoveRequest
from app.http.context import services
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
    result = done.result
    headers = {"X-Width": str(result.width), "X-Height": str(result.height),
               "X-Model": done.masked.model or done.masked.engine,
               "X-Processing-Seconds": f"{done.seconds:.3f}", "Vary": "Accept"}
    if request.accept_mimetypes.best_match([result.content_type, JSON]) == JSON:
        response = jsonify(Removed(
            image_base64=base64.b64encode(result.data).decode("ascii"),
            content_type=result.content_type, width=result.width, height=result.height,
            model=headers["X-Model"], seconds=round(done.seconds, 3)).model_dump())
    else:
        response = Response(result.data, mimetype=result.content_type)
    response.headers.update(headers)
    return response
