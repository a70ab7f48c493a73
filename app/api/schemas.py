"""What only the API sends and receives (the record shapes are shared: app/http/records_json.py),
and every error code it can answer with, each with the kinds of problem it covers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.errors import human_size
from app.core.fetching import CODES as FETCH_CODES
from app.engines.admission import COUNTING
from app.engines.base import EngineError
from app.http.callers import CSRF_HEADER
from app.http.errors import STATUS
from app.http.records_json import MODEL_NAMES, Record
from app.http.sizes import JSON_BODY_LIMIT, MAX_FORM_MEMORY_SIZE, MAX_FORM_PARTS, MAX_PART_HEADERS
from app.images.decoding import InvalidImage
from app.images.outputs import ACCEPTED_TEXT, REMOVAL_FORMATS

CSRF_STATUS = 403  # understood, but its sender is not trusted (flask-wtf's 400 for the page)

_VIEW = ConfigDict(extra="forbid")
MODEL_HEADER = (f"The local engine's model that made the mask ({MODEL_NAMES}), or the "
                "remote engine's name (`rapidapi`).")
SECONDS_HEADER = "Seconds from asking for a turn to the encoded result."


class RecordList(BaseModel):
    model_config = _VIEW

    records: list[Record]
    user_limit: int = Field(ge=1, description="How many records the visitor may keep.")


class Session(BaseModel):
    model_config = _VIEW

    csrf_token: str | None = Field(min_length=1, description=(
        "Send it in `csrf_header` on unsafe calls; null for a call with an API key, which "
        "needs none (and gets no cookie)."))
    csrf_header: Literal[CSRF_HEADER]
    user_limit: int = Field(ge=1)
    record_count: int = Field(ge=0)
    max_upload_bytes: int = Field(ge=1)


# What a removal may answer: an image, or a zip of two (format zip).
RESULT_TYPES = tuple(sorted(set(REMOVAL_FORMATS.values())))


class Removed(BaseModel):
    """A result as JSON (`Accept: application/json`); the bytes are answered otherwise."""

    model_config = _VIEW

    image_base64: str = Field(description="The result's bytes, base64-encoded.")
    content_type: Literal[RESULT_TYPES]
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    model: str = Field(description=MODEL_HEADER)
    seconds: float = Field(ge=0, description=SECONDS_HEADER)


class KeyUsage(BaseModel):
    model_config = _VIEW

    day: str = Field(description="The day counted (UTC), as YYYY-MM-DD.")
    calls: int = Field(ge=0, description="Results made (or re-made) and paid for.")
    megapixels: float = Field(ge=0, description="Megapixels of their photos.")


class Account(BaseModel):
    """The API key a call came with: its limits and what it used today."""

    model_config = _VIEW

    name: str
    key_prefix: str = Field(description="The key's first characters, to tell keys apart.")
    per_minute: int = Field(ge=1, description=f"Rate-limit counts a minute ({COUNTING}).")
    megapixels_per_day: int | None = Field(description="Megapixels a rolling 24 hours may "
                                                       "take; null: no cap.")
    megapixels_left: int | None = Field(
        ge=0, description="What the last 24 hours leave of `megapixels_per_day`, as the cap "
                          "counts (one per started megapixel of each photo): a call of that "
                          "many or fewer is not refused `daily_quota`. null: no cap.")
    today: KeyUsage


def _statuses(*kinds: str) -> tuple[int, ...]:
    return tuple(sorted({STATUS[kind] for kind in kinds}))


_ENGINE_KINDS = {cls.kind for cls in (EngineError, *EngineError.__subclasses__())}
# Error code -> what it means, and the status codes it comes with: from the kinds of problem
# the core reports (app/http/errors.py STATUS), or the HTTP layer's own.
ERRORS: dict[str, tuple[str, tuple[int, ...]]] = {
    "bad_request": ("the request could not be read", (400,)),
    "missing_key": ("the call needs an API key (`API_REQUIRE_KEY`, or `GET /account`), "
                    "and none was sent", _statuses("unauthorized")),
    "invalid_key": ("the API key is unknown or revoked, two different keys were sent, or "
                    "`Authorization` is not `Bearer`", _statuses("unauthorized")),
    "csrf_failed": (f"the {CSRF_HEADER} header is missing or wrong (see `GET /session`)",
                    (CSRF_STATUS,)),
    "invalid_body": ("a field the operation does not take, a field or JSON key sent twice, a "
                     "file without multipart/form-data, or not the documented JSON object",
                     _statuses("invalid")),
    "invalid_parameter": ("a query parameter is not one of its documented values",
                          _statuses("invalid")),
    "invalid_name": ("the name is missing, null, empty, longer than allowed, not one line (a "
                     "control character or line break inside it), without a visible character "
                     "or not valid text", _statuses("invalid")),
    "missing_image": ("no file in the `image` field and no `image_url`", _statuses("invalid")),
    "invalid_options": ("an output option is not one of the documented values",
                        _statuses("invalid")),
    **{code: (f"`image_url`: {meaning}", _statuses(kind))
       for code, (kind, meaning) in FETCH_CODES.items() if code != "too_large"},
    "conflict": ("the record changed while the edit was being made; try again",
                 _statuses("conflict")),
    "invalid_image": (f"not a {ACCEPTED_TEXT}, damaged, animated or too many pixels",
                      _statuses(*InvalidImage.KINDS)),
    "invalid_background": ("the background photo (output `image`), as `invalid_image` says "
                           "of the photo", _statuses(*InvalidImage.KINDS)),
    "too_large": ("the request body, or the photo at `image_url`, is over the upload limit; "
                  f"or the form or JSON body over its own ({MAX_FORM_PARTS} fields; "
                  f"{human_size(MAX_FORM_MEMORY_SIZE)} a text field of a multipart form, "
                  f"{human_size(MAX_PART_HEADERS)} of part headers; "
                  f"{human_size(MAX_FORM_MEMORY_SIZE)} a urlencoded form; JSON "
                  f"{human_size(JSON_BODY_LIMIT)})",
                  (413,)),
    "unsupported_media_type": ("the body is not of the documented media type",
                               (415,)),
    "not_found": ("no such record for this visitor, or no such endpoint", _statuses("not_found")),
    "method_not_allowed": ("the path exists, the method does not (see the `Allow` header)",
                           (405,)),
    "precondition_failed": ("`If-Match` names no version of these bytes (their `ETag`)",
                            (412,)),
    "requested_range_not_satisfiable": ("`Range` holds no byte of the image: it starts past "
                                        "the end (the length is in `Content-Range`), or is "
                                        "`-0`", (416,)),
    "limit_reached": ("the visitor already keeps as many images as allowed", _statuses("conflict")),
    "engine_failed": ("the background-removal engine failed, is unavailable, too slow or "
                      "out of quota", _statuses(*_ENGINE_KINDS)),
    "busy": ("too many photos are being processed; nothing was started, try again after "
             "`Retry-After` seconds", _statuses("busy")),
    "internal_error": ("an unexpected failure, logged on the server", _statuses("unexpected")),
    "storage_unavailable": ("the database is unavailable, nothing was changed; try again "
                            "after `Retry-After` seconds", (503,)),
    "rate_limited": ("too many requests from this client: uploads in a short time, or "
                     "photos by address at once; try again after `Retry-After` seconds",
                     (429,)),
    "daily_quota": ("the API key has used its megapixels for a rolling 24 hours; try again "
                    "after `Retry-After` seconds (none when the photo alone counts more than "
                    "the whole day's: it never fits)", (429,)),
    # The front's own answers (k8s/front/nginx.conf), before the request reaches the app.
    "uri_too_long": ("the front: the address is too long", (414,)),
    "too_many_requests": ("the front: too many requests from this address at once; try "
                          "again after `Retry-After` seconds", (429,)),
    "app_unavailable": ("the front: the app is not answering (it may be restarting); try "
                        "again after `Retry-After` seconds", (502, 503)),
    "app_timeout": ("the front: the app took too long to answer", (504,)),
    "not_implemented": ("the front: a Transfer-Encoding it cannot read", (501,)),
    "http_version_not_supported": ("the front: an HTTP version it does not speak", (505,)),
}
# What the front may answer to any operation, whatever the app would have.
FRONT_ERRORS = ("bad_request", "too_large", "uri_too_long", "too_many_requests",
                "app_unavailable", "app_timeout", "not_implemented",
                "http_version_not_supported")


class Error(BaseModel):
    model_config = _VIEW

    error: Literal[tuple(ERRORS)] = Field(description="Stable code, for programs.")
    message: str = Field(description="What happened and what to do, for people.")
