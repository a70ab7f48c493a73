"""Image bytes by URL, so pages stay small and browsers can cache what they have seen.
Stored images go out through `send_image`; a result made for one request and stored
nowhere (a removal) through `send_result`."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from flask import Response, current_app, jsonify, request, send_file
from pydantic import BaseModel, ConfigDict
from werkzeug.exceptions import PreconditionFailed

from app.core.errors import Rejected
from app.core.fields import Rule, flag
from app.core.flags import flag_refused
from app.core.forms import parse, rule_of
from app.http.context import services
from app.http.visitor import current_visitor
from app.images.decoding import EXTENSIONS
from app.images.outputs import DEFAULT_OUTPUT, FILE_NAME_BYTES, EncodedImage

# RFC 8187's attr-char: what may stand unescaped in `filename*` besides letters and digits.
_ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"
# Controls go, and so do the bidirectional marks, overrides and isolates that make
# "\u202egnp.exe" show as "exe.png" in a file manager; what a file system refuses in a name
# (a folder's separator, Windows' reserved characters) parts words as a space does: "a/b"
# is a-b.png.
_UNSEEN_IN_FILENAME = re.compile(r"[\x00-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_SEPARATORS_IN_FILENAME = re.compile(r'[/\\:*?"<>|]+')
# Names Windows keeps for devices, with any extension ("CON.png" cannot be saved there).
_DEVICE_NAMES = re.compile(r"(?:CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(?:\..*)?", re.IGNORECASE)
_IMAGE_EXTENSIONS = re.compile(r"(?:\.(?:png|jpe?g|webp))+$", re.IGNORECASE)
# One range of RFC 9110 §14.1.2, `first-[last]` or `-suffix` (ASCII digits only), with the
# spaces and letter case Werkzeug tolerates. int() refuses numbers over 4300 digits: a
# longer one leaves the header ignored, as a server may (§14.2), rather than a 500.
_OWS = "[ \t]*"
_NUMBER = "([0-9]{1,4000})"
_ONE_BYTE_RANGE = re.compile(
    rf"{_OWS}bytes{_OWS}={_OWS}(?:{_NUMBER}{_OWS}-{_OWS}{_NUMBER}?|-{_OWS}{_NUMBER}){_OWS}",
    re.IGNORECASE)


class ImageQuery(BaseModel):
    """`?download=` on an image's address, the page's and the API's: absent, or once as a
    yes/no word as every flag takes them (1 in the records' `download_url`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    download: Annotated[
        flag("download", "Save as an attachment named after the record (`my-cat.png`, "
                         "`my-cat-original.jpg`; a rendition `my-cat-160.webp`)."),
        Rule("invalid_parameter", flag_refused("download", ", once"))] = False


def _download_asked() -> bool:
    """Whether `?download=` asks for an attachment, or `Rejected` if it is not a boolean
    sent once."""
    if len(request.args.getlist("download")) > 1:
        rule = rule_of(ImageQuery, "download")
        raise Rejected(rule.code, rule.message)
    return parse(ImageQuery, request.args.to_dict()).download


def download_name(image_name: str, kind: str, content_type: str, ascii_only: bool = False,
                  output: str = DEFAULT_OUTPUT, size: int | None = None) -> str:
    """`my-cat.png` for the cutout (`my-cat-mask.png` for a record whose `output` is the
    mask), `my-cat-original.jpg` for the upload; a rendition's with its `size`
    (`my-cat-160.webp`, never the name of a WebP result itself). Compatibility forms are
    folded first (NFKC), so a fullwidth `／` is a `/`, not turned into one by the ASCII
    fallback.
    `ascii_only`: that fallback, for clients that ignore `filename*` (accents dropped;
    `image` when nothing is left, where "猫" would have been saved as the hidden file
    `.png`)."""
    stem = _UNSEEN_IN_FILENAME.sub("", unicodedata.normalize("NFKC", image_name))
    stem = _SEPARATORS_IN_FILENAME.sub(" ", stem)
    if ascii_only:
        stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    # No leading dot (a hidden file) or dash (an option to a command that gets the name),
    # nor a trailing one (Windows drops it), and no image extensions of its own: "cat.jpg"
    # saves as cat.png, not cat.jpg.png, and "cat.png.jpg" as cat.png too.
    stem = _IMAGE_EXTENSIONS.sub("", "-".join(stem.split())).strip(".-") or "image"
    if _DEVICE_NAMES.fullmatch(stem):
        stem = f"image-{stem}"
    part = ("-original" if kind == "original" else ("-mask" if output == "mask" else "")
            ) + (f"-{size}" if size else "")
    ending = f"{part}.{EXTENSIONS.get(content_type, 'png')}"
    # Cut to a name a file system takes: NFKC makes up to 18 characters of one (U+FDFA),
    # and a 50-character name's Content-Disposition had passed the front's 4 KB of
    # headers (a 502 for every download of the record).
    room = FILE_NAME_BYTES - len(ending.encode())
    return stem.encode()[:room].decode("utf-8", "ignore") + ending


def send_image(record_id: str, kind: str, size: int | None = None, *, again: bool = True):
    """The visitor's image bytes (or its rendition of `size`) with caching headers;
    `?download=1` saves either under the record's name. Anything not theirs is not
    found."""
    download = _download_asked()  # a bad query is told so, found or not
    gallery = services().gallery
    record, stored = gallery.image(current_visitor(), record_id, kind, size)
    output = record.options.get("output", DEFAULT_OUTPUT)
    name = download_name(record.image_name, kind, stored.content_type, output=output,
                         size=size)
    etag = stored.etag
    if download:
        # The bytes never change but the file name does on a rename: a new name is a new
        # version of the download.
        etag = f"{stored.etag}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    # RFC 9110 §13.2.2's order: If-Match before If-None-Match before Range, all answered
    # from the metadata alone, without reading the bytes. Werkzeug would check If-Match
    # after serving a range, and keep the image as the body of its 412.
    if request.if_match and not request.if_match.contains(etag):
        raise PreconditionFailed()
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
        response.set_etag(etag)
    else:
        try:
            data = gallery.read(record, kind, size)
        except Rejected as exc:
            # An edit replaced the image between its details and its bytes: the record's
            # new image, asked for once more (one deleted meanwhile is not found then).
            if exc.code != "not_found" or not again:
                raise
            return send_image(record_id, kind, size, again=False)
        response = send_file(io.BytesIO(data), mimetype=stored.content_type, etag=etag,
                             as_attachment=download, download_name=name, conditional=False)
        # A 416 raised here reaches the app's error handler, with its Content-Range.
        response.make_conditional(_with_range_to_honour(request.environ, len(data)),
                                  accept_ranges=True, complete_length=len(data))
        if not name.isascii():  # Werkzeug's own fallback for "猫" is ".png"
            response.headers.set("Content-Disposition", "attachment" if download else "inline", **{
                "filename": download_name(record.image_name, kind, stored.content_type, True,
                                          output, size),
                "filename*": f"UTF-8''{quote(name, safe=_ATTR_CHAR_PUNCTUATION)}"})
    # The browser keeps an image but asks each time whether it may still show it (a 304
    # costs a few bytes): once a record is deleted the answer is 404 and the copy goes.
    # "private" keeps shared caches from storing one visitor's photos.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _with_range_to_honour(environ: dict, length: int) -> dict:
    """`environ` with its Range header as Werkzeug should see it. None where RFC 9110 §14.2
    says to ignore it (a unit other than bytes, not parsable, `last` before `first`), so the
    answer is the whole image with 200, not Werkzeug's 416. Several ranges are ignored too:
    Werkzeug answers no multipart/byteranges, and the whole image is a valid answer.
    If-Match is left out, answered already: Werkzeug takes `*` for a failed match and
    answers 412 with the image as its body."""
    environ = {key: value for key, value in environ.items() if key != "HTTP_IF_MATCH"}
    if environ.get("HTTP_IF_RANGE", "").lstrip().startswith("W/"):
        # §13.1.5: If-Range compares strongly, so a weak tag never names this version
        # (Werkzeug dropped the W/ and answered 206).
        return {key: value for key, value in environ.items() if key != "HTTP_RANGE"}
    match = _ONE_BYTE_RANGE.fullmatch(environ.get("HTTP_RANGE", ""))
    first, last, suffix = match.groups() if match else (None, None, None)
    if suffix is not None:
        # A suffix longer than the image means all of it (§14.1.2), which Werkzeug would
        # refuse; `-0` stays, valid and never satisfiable: 416.
        return {**environ, "HTTP_RANGE": f"bytes=-{min(int(suffix), length)}"}
    if first is not None and (last is None or int(first) <= int(last)):
        end = "" if last is None else int(last)
        return {**environ, "HTTP_RANGE": f"bytes={int(first)}-{end}"}
    return {key: value for key, value in environ.items() if key != "HTTP_RANGE"}


def send_result(made: EncodedImage, headers: dict, as_json) -> Response:
    """A result made for this request, stored nowhere: its bytes, or `as_json` of them in
    base64 when Accept prefers JSON; its size in X-Width and X-Height, and `headers`."""
    if request.accept_mimetypes.best_match([made.content_type, "application/json"]) == (
            "application/json"):
        response = jsonify(as_json(base64.b64encode(made.data).decode("ascii")))
    else:
        response = current_app.response_class(made.data, mimetype=made.content_type)
    response.headers.update({"X-Width": str(made.width), "X-Height": str(made.height),
                             "Vary": "Accept", **headers})
    return response
