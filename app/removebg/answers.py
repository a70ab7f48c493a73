"""Our answers in remove.bg's shape: a result as its bytes with remove.bg's headers (or as
JSON `{"data": {"result_b64", ...}}` for a client that accepts JSON), and every problem as
`{"errors": [{"title", "code", "detail"}]}` with remove.bg's status codes."""

from __future__ import annotations

from flask import Response, jsonify

from app.core.uploads import Removed
from app.http.callers import Account
from app.http.downloads import send_result
from app.http.errors import Problem
from app.http.limits import DAILY_QUOTA
from app.removebg.fields import Asked

# remove.bg charges a quarter of a credit for a preview and one for any larger size; we
# charge no credits, but say what remove.bg would have, for clients that count them.
CREDITS_PREVIEW, CREDITS_FULL = "0.25", "1"
TYPE = "other"  # remove.bg says what the photo shows (person, product...); we do not guess
# Our statuses that remove.bg answers otherwise: it answers 403 for a missing or unknown
# key, and 400 for every request it cannot take (too large, not an image, a conflict).
STATUSES = {401: 403, 409: 400, 413: 400, 415: 400}
# A key's megapixels for the day spent is remove.bg's "insufficient credits".
CODES = {DAILY_QUOTA: 402}
# Our codes as remove.bg's API reference names the same problems, for clients that tell
# them apart by code; an address's by whose it was (the photo's, or the background's).
_ADDRESSES = {"invalid_url": ("invalid_image_url", "invalid_bg_image_url"),
              "url_refused": ("invalid_image_url", "invalid_bg_image_url"),
              **dict.fromkeys(("url_failed", "url_unavailable", "url_timeout"),
                              ("failed_image_download", "failed_bg_download"))}
THEIRS = {"missing_image": "missing_source", "too_large": "file_too_large",
          ("invalid_image", 400): "failed_to_read_image",
          ("invalid_image", 413): "resolution_too_high",
          ("invalid_image", 415): "invalid_file_type",
          **{(code, whose): names[whose == "background_image_url"]
             for code, names in _ADDRESSES.items()
             for whose in (None, "image_url", "background_image_url")}}
# Credits a day for a key without a daily cap: what its per-minute limit lets it spend
# at most (a call costs at least one of its counts, and remove.bg at most one credit).
MINUTES_A_DAY = 24 * 60
TITLES = {400: "Invalid request", 402: "Insufficient credits", 403: "Authentication failed",
          404: "Not found", 405: "Method not allowed", 429: "Rate limit exceeded"}


def result(asked: Asked, done: Removed) -> Response:
    """A removal's result as remove.bg answers it."""
    made = done.result
    # We do not locate the subject for this answer: its box is the whole result, said in
    # the headers of the bytes and in the fields of the JSON alike.
    box = {"top": 0, "left": 0, "width": made.width, "height": made.height}
    # type_level none: remove.bg sets no X-Type.
    headers = {**({"X-Type": TYPE} if asked.typed else {}),
               "X-Credits-Charged": CREDITS_PREVIEW if asked.preview else CREDITS_FULL,
               **{f"X-Foreground-{side.title()}": str(value) for side, value in box.items()}}
    return send_result(made, headers, lambda data: {"data": {
        "result_b64": data, **{f"foreground_{side}": value for side, value in box.items()}}})


def account(found: Account) -> Response:
    """The calling key in remove.bg's account shape. We sell no credits: a key's credits
    are what its daily cap still allows, as the limit counts it, or without a cap what its
    per-minute limit allows in a day (a number: clients count down from it), and every
    size is open to it. What the key is and what it used today come beside."""
    left = found.left if found.left is not None else found.key.per_minute * MINUTES_A_DAY
    return jsonify(data={"attributes": {
        "credits": {"total": left, "subscription": left, "payg": 0, "enterprise": 0},
        "api": {"free_calls": 0, "sizes": "all"},
        "key": found.described()}})


def kind(status: int) -> str:
    """remove.bg's `detail` for a status: what kind of failure it was (the front's own
    errors at this door say the same: k8s/front/nginx.conf, tested against this)."""
    return TITLES.get(status, "Server error" if status >= 500 else "Request failed")


def problem(found: Problem) -> tuple[Response, int, dict]:
    """A problem as remove.bg answers one: its shape, and its status for ours."""
    status = CODES.get(found.code) or STATUSES.get(found.status, found.status)
    code = (THEIRS.get(found.code) or THEIRS.get((found.code, found.status))
            or THEIRS.get((found.code, found.field), found.code))
    # remove.bg's title is the sentence for people (what its clients show), its code the
    # word for programs; the detail says what kind of failure it was.
    headers = {name: value for name, value in found.headers.items()
               if status != 403 or name != "WWW-Authenticate"}  # 401's own
    return jsonify(errors=[{"title": found.message, "code": code,
                            "detail": kind(status)}]), status, headers
