"""Each field a visitor may send, declared once: its type, limits, description (for the
OpenAPI document) and the `Rule` a refusal answers with (a stable code and a sentence).
The forms in forms.py are made of these."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.core.flags import FLAG_PATTERN, as_flag, flag_refused
from app.images.outputs import (
    ACCEPTED_TEXT,
    DEFAULT_BACKGROUND,
    ENCODING_COST,
    FORMATS,
    OUTPUTS,
    REMOVAL_FORMATS,
    ZIP_ALPHA,
    ZIP_COLOURS,
)
from app.model_files import MODELS


@dataclass(frozen=True)
class Rule:
    code: str
    message: str


NAME_MAX = 50
URL_MAX = 2048
NO_PHOTO = "Please choose an image to upload, or give the address of one."
# Python's whitespace (what a name is trimmed of: each character whose isspace() is true),
# written out, so the document and the server agree on every character whatever a client's
# regex engine calls whitespace; tests/unit/test_forms.py checks it against Unicode.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
              "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# What a name may not hold once trimmed: control characters (NUL, tab, line feed, DEL, the
# C1 set) and the Unicode line and paragraph separators. A name is one line of text; these
# would reach page titles, logs and download names. tests/unit/test_forms.py scans for them.
NOT_IN_NAMES = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_NOT_IN_NAMES = re.compile(f"[{NOT_IN_NAMES}]")
# U+FFFD stands where a decoder met bytes that were not text (Werkzeug's form fields, a
# browser's lone surrogate): refused as JSON's lone surrogate is, alike at every door.
BROKEN_TEXT = "\ufffd"
# What shows nothing: format characters (Unicode category Cf: zero-width space, joiners,
# word joiner, BOM, bidi marks, tags...) and the letters and symbol drawn blank (Hangul
# fillers, braille blank). Allowed inside a name (an emoji sequence needs U+200D), but a
# name must hold something else to be seen. Cf as of Unicode 16, written out like
# WHITESPACE; tests/unit/test_forms.py checks it against this Python's Unicode tables.
INVISIBLE = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
             "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd"
             "\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
             "\U000e0001\U000e0020-\U000e007f\u115f\u1160\u2800\u3164\uffa0")
_VISIBLE = re.compile(f"[^{WHITESPACE}{INVISIBLE}]")
_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # JSON's 5.0 is 5, as JSON Schema's "integer" (the OpenAPI document's) takes it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise PydanticCustomError("whole_number", "not a whole number")


def _flag(value: Any) -> bool:
    flag = as_flag(value)
    if flag is None:
        raise PydanticCustomError("flag", "not a flag")
    return flag


def _one_of(field: str, choices) -> Rule:
    return Rule("invalid_options", f"{field} must be one of: {', '.join(choices)}.")


def flag(name: str, description: str):
    """A yes/no field: true/false (JSON), or one of BOOLEAN_WORDS (a form's text)."""
    return Annotated[
        bool, BeforeValidator(_flag),
        # A form sends words, JSON (a photo by address, an edit) may send true or false.
        WithJsonSchema({"oneOf": [{"type": "boolean"},
                                  {"type": "string", "pattern": FLAG_PATTERN}]},
                       mode="validation"),
        Field(description=description),
        Rule("invalid_options", flag_refused(name))]


def _name(value: Any) -> Any:
    """A name trimmed, then told precisely what is wrong with it, in this order: not text
    (a JSON number, flag, list or object), only spaces, a line break or control character,
    not valid text, nothing visible. A null and a form's file part (bytes:
    bodies.form_as_sent) go on to the length rule."""
    if value is not None and not isinstance(value, (str, bytes)):
        raise PydanticCustomError("invalid_name", 'Please give the image a name as text (a '
                                                  'string such as "cat"), not a number, a '
                                                  'flag, a list or an object.')
    if not isinstance(value, str):
        return value
    if value and not value.strip():  # only spaces: told as only invisible characters are
        raise _no_visible_character()
    # Composed (NFC), so that a name counts and reads alike however its accents were typed:
    # a file name from macOS spells "é" as two code points.
    value = unicodedata.normalize("NFC", value.strip())
    if _NOT_IN_NAMES.search(value):
        raise PydanticCustomError("invalid_name", "Please give the image a name without line "
                                                  "breaks or control characters.")
    _whole_text(value)
    if value and not _VISIBLE.search(value):
        raise _no_visible_character()
    return value


def _whole_text(value: Any) -> Any:
    """Refused as pydantic refuses a lone surrogate (forms.py words it: NOT_TEXT)."""
    if isinstance(value, str) and BROKEN_TEXT in value:
        raise PydanticCustomError("string_unicode", "not valid text")
    return value


def _no_visible_character() -> PydanticCustomError:
    return PydanticCustomError("invalid_name", (
        "Please give the image a name with at least one visible character, not only spaces "
        "or invisible characters such as a zero-width space."))


# Spaces (which include tab and line feed) may surround the name; inside it, none of
# NOT_IN_NAMES or BROKEN_TEXT, and at least one character that is neither a space nor
# INVISIBLE: any invisible ones before it come first (after a leading invisible one, spaces
# that are not controls). No lookahead, so any regex engine reads it alike. Checked on at
# most NAME_MAX characters (the length comes first), and each class meets the next only
# where one must end, so there is little to backtrack anyway.
_BARRED = NOT_IN_NAMES + BROKEN_TEXT
_INNER_SPACES = "".join(c for c in WHITESPACE if not _NOT_IN_NAMES.match(c))
_NAME_PATTERN = (f"^[{WHITESPACE}]*(?:[{INVISIBLE}][{_INNER_SPACES}{INVISIBLE}]*)?"
                 f"[^{WHITESPACE}{INVISIBLE}{_BARRED}]"
                 f"(?:[^{_BARRED}]*[^{WHITESPACE}{_BARRED}])?[{WHITESPACE}]*$")
Name = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX, pattern=_NAME_PATTERN,
               description=f"1 to {NAME_MAX} characters, one line without control "
                           "characters, with at least one visible character (not only spaces "
                           "or invisible ones such as U+200B, a zero-width space), once leading "
                           "and trailing spaces are removed and accents composed (Unicode NFC)."),
    # Trimmed before any rule, the length included, so both doors take " name " alike.
    BeforeValidator(_name),
    Rule("invalid_name", f"Please give the image a name of 1 to {NAME_MAX} characters.")]
PhotoFile = Annotated[
    bytes, Field(description=f"A {ACCEPTED_TEXT} still image, within the upload limit and "
                             "the pixel limit."),
    Rule("missing_image", NO_PHOTO)]
NEEDS_BACKDROP = Rule("invalid_options", "Choose a background photo to put behind the subject.")
Backdrop = Annotated[
    bytes, Field(description=f"The photo behind the subject with output `image` "
                             f"({ACCEPTED_TEXT}), scaled to cover the result and centred."),
    NEEDS_BACKDROP]


def _address(value: Any) -> Any:
    """An address trimmed as a name is, at every door: one pasted often brings a space or a
    line break along, and was told it was not an http or https URL."""
    value = _whole_text(value)
    return value.strip() if isinstance(value, str) else value


def url_rule(whose: str) -> Rule:
    return Rule("invalid_url", f"Give {whose} address in full, starting with http:// or "
                               f"https://, in at most {URL_MAX} characters.")


Url = Annotated[
    str, Field(max_length=URL_MAX,
               pattern=f"^[{WHITESPACE}]*[hH][tT][tT][pP][sS]?://[^{BROKEN_TEXT}]*$",
               description="The address of a photo to fetch instead of sending a file: "
                           "http or https, on a public address, at most "
                           f"{URL_MAX} characters once leading and trailing spaces are removed."),
    BeforeValidator(_address),
    url_rule("the photo's")]
Output = Annotated[
    Literal[OUTPUTS], Field(description="`transparent` cutout; the subject over a `color`, "
                                        "over a photo (`image`, with `background_image`) or "
                                        "over its own background blurred (`blur`); or the "
                                        "`mask` alone. Left out, a background photo sent "
                                        "asks for `image` and a colour for `color`."),
    _one_of("output", OUTPUTS)]


def implied_output(values: Any) -> Any:
    """A background sent without an output asks for it (a photo `image`, else a colour
    `color`), as the page's colour field and remove.bg's bg_color do (helper 75)."""
    if isinstance(values, dict) and "output" not in values:
        for field, output in (("background_image", "image"), ("background_image_url", "image"),
                              ("background", "color")):
            if values.get(field) is not None:
                return {**values, "output": output}
    return values


Colour = Annotated[
    str, Field(pattern=r"^#[0-9a-fA-F]{6}$",
               description="The colour behind the subject with output `color`, which it "
                           "asks for without an output; checked, then ignored, with others."),
    AfterValidator(str.lower),
    Rule("invalid_options", f"Choose a background colour as #rrggbb, e.g. {DEFAULT_BACKGROUND}.")]
Crop = flag("crop", "Crop to the subject.")
# What "Refine edges" does and what it costs, as the page's help and the OpenAPI document say
# it. The times: what the option added to a result through the app's compositor in
# bench/quality.py's runs (0.15-0.26 s at 1.5 MP, 0.40-0.96 s at 12 MP; docs/quality.md).
REFINE_EDGES_HELP = ("Cleaner hair, fur and outlines: the mask matted to the photo's own "
                     "edges where the model is unsure, without the old background's colour "
                     "at the edges. Adds about 0.2 s to a 1.5 MP photo, up to 1 s at 12 MP.")
RefineEdges = flag("refine_edges", REFINE_EDGES_HELP)
MARGIN_MAX = 100  # percent of the subject's longer side
Margin = Annotated[
    int, Field(ge=0, le=MARGIN_MAX, description=(
        "Margin around the subject when cropping, in percent of its longer side.")),
    BeforeValidator(_whole_number),
    # A form sends it as text, and JSON may too.
    WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 0, "maximum": MARGIN_MAX},
                              {"type": "string", "pattern": "^0*(100|[0-9]{1,2})$"}]},
                   mode="validation"),
    Rule("invalid_options", "The crop margin must be a whole number of percent from 0 to "
                            f"{MARGIN_MAX}, such as 10 (no % sign).")]
_FORMATS = ("`jpeg` only for results without transparency; `webp` adds "
            f"{ENCODING_COST['webp'] - 1:g} times the pixels to what the rate limits count")
Format = Annotated[Literal[tuple(FORMATS)],
                   Field(description=f"The result's file format; {_FORMATS}."),
                   _one_of("format", FORMATS)]
RemovalFormat = Annotated[
    Literal[tuple(REMOVAL_FORMATS)],
    Field(description=f"The result's file format: an upload's ({_FORMATS}), or `zip`: its "
                      f"colours as a JPEG ({ZIP_COLOURS}) and its alpha as a PNG ({ZIP_ALPHA}),"
                      " remove.bg's layout, smaller than one PNG; not with output `mask`."),
    _one_of("format", REMOVAL_FORMATS)]
Model = Annotated[
    Literal[tuple(MODELS)],
    Field(description="The local engine's model: " + "; ".join(
        f"`{name}` ({model.label})" for name, model in MODELS.items())
        + ". Absent: the server's default (BG_MODEL)."),
    _one_of("model", MODELS)]
PREVIEW_PIXELS = 250_000  # about a quarter of a megapixel
MEGAPIXELS_MIN, MEGAPIXELS_MAX = 0.01, 1000
_MEGAPIXELS = re.compile(r"^[0-9]{1,4}(\.[0-9]{1,6})?$")
SIZE = Rule("invalid_options", f"size must be preview (about 0.25 megapixels), full, or a "
                               f"number of megapixels from {MEGAPIXELS_MIN} to "
                               f"{MEGAPIXELS_MAX}, such as 2 or 0.5.")


def _size(value: Any) -> Any:
    if value in ("preview", "full"):
        return value
    if isinstance(value, str) and _MEGAPIXELS.fullmatch(value):
        value = float(value)
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and MEGAPIXELS_MIN <= value <= MEGAPIXELS_MAX):
        return float(value)
    raise PydanticCustomError(SIZE.code, SIZE.message)


Size = Annotated[
    Any, BeforeValidator(_size),
    WithJsonSchema({"anyOf": [
        {"type": "string", "enum": ["preview", "full"]},
        {"type": "number", "minimum": MEGAPIXELS_MIN, "maximum": MEGAPIXELS_MAX},
        {"type": "string", "pattern": _MEGAPIXELS.pattern}]}, mode="validation"),
    Field(description="The result's size: `preview` (scaled to at most "
                      f"{PREVIEW_PIXELS:,} pixels), `full` (the photo's own), or a number of "
                      "megapixels it may not exceed. Never enlarged; the aspect is kept."),
    SIZE]


def size_pixels(size: str | float) -> int | None:
    """The most pixels a result of `size` may have; None for the photo's own size."""
    if size == "full":
        return None
    return PREVIEW_PIXELS if size == "preview" else max(1, int(size * 1_000_000))
