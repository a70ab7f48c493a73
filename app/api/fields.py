"""The API holds requests to exactly what its OpenAPI document says, checked against the
document's own schemas; the page's form is more forgiving (empty fields take defaults), and
the upload walk behind both stays the same."""

from __future__ import annotations

import json
import re

from werkzeug.datastructures import MultiDict

from app.api import openapi
from app.web.uploading import NAME_MAX, Rejected

UPLOAD = openapi.UPLOAD["properties"]
NOT_BLANK = re.compile(openapi.NAME["pattern"])


def check_name(value) -> None:
    """The name as sent: a string of at most NAME_MAX characters that is not only spaces."""
    if not isinstance(value, str) or len(value) > NAME_MAX or not NOT_BLANK.search(value):
        raise Rejected(f"Please give the image a name of 1 to {NAME_MAX} characters.", 400,
                       "invalid_name")


def check_upload(form: MultiDict, files: MultiDict) -> None:
    """Multipart fields of a create: only the documented ones, each once, with documented
    values. Raises `Rejected`."""
    names = [name for source in (form, files) for name, _ in source.items(multi=True)]
    unknown = sorted(set(names) - set(UPLOAD))
    if unknown:
        raise Rejected(f"Unknown field {unknown[0]!r}: send only {', '.join(UPLOAD)}.", 400,
                       "invalid_body")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise Rejected(f"The field {repeated[0]!r} was sent more than once.", 400,
                       "invalid_body")
    if "name" in form:
        check_name(form["name"])
    for name in ("output", "format", "crop"):
        if name in form and form[name] not in UPLOAD[name]["enum"]:
            choices = ", ".join(UPLOAD[name]["enum"])
            raise Rejected(f"{name} must be one of: {choices}.", 400, "invalid_options")
    if "background" in form and not re.search(UPLOAD["background"]["pattern"],
                                              form["background"]):
        raise Rejected("Choose a background colour as #rrggbb, e.g. #ffffff.", 400,
                       "invalid_options")
    if "crop_margin" in form and not _integer(form["crop_margin"], 0, 100):
        raise Rejected("The crop margin must be a whole number from 0 to 100 (%).", 400,
                       "invalid_options")


def _integer(text: str, low: int, high: int) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return type(value) is int and low <= value <= high


def download_flag(values: list[str]) -> None:
    """`download` in the query: absent, or once as true, false, 1 or 0."""
    if len(values) > 1 or (values and values[0] not in ("true", "false", "1", "0")):
        raise Rejected("download must be true, false, 1 or 0 (once).", 400,
                       "invalid_parameter")
