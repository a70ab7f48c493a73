"""remove.bg's request fields, translated into a removal of ours (app/core/removal.py): each
field that maps onto ours becomes ours, each one that only tunes remove.bg's own work is
taken and ignored, and each one asking for what we do not make is refused with a sentence
saying so. Nothing here looks at pixels: the core checks the photos and makes the result.

The table in docs/api.md ("remove.bg's API") says the same, field by field."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import ImageColor

from app.core.errors import Rejected
from app.core.fields import MARGIN_MAX
from app.core.flags import as_flag, flag_refused
from app.core.forms import quoted
from app.images.outputs import DEFAULT_OUTPUT

# remove.bg's sizes and ours: preview (about 0.25 MP), a megapixel cap, or the photo's own.
PREVIEW = ("preview", "small", "regular")
SIZES: dict[str, str | float] = {
    **dict.fromkeys(PREVIEW, "preview"), "medium": 1.5, "hd": 4.0, "4k": "full",
    "full": "full", "auto": "full", "50MP": 50.0}
DEFAULT_SIZE = "preview"  # remove.bg's own default
# remove.bg guesses (or is told) what the photo shows to tune its model; ours has one model
# for all, so these are checked and ignored.
CARS = ("car", "car_interior", "car_part")  # the photos remove.bg makes shadows for
TYPES = ("auto", "person", "product", "animal", *CARS, "transportation", "graphic",
         "graphics", "other")
TYPE_LEVELS = ("none", "latest", "1", "2")
FORMATS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "zip": "zip"}
FILES = ("image_file", "bg_image_file")
FIELDS = ("image_file", "image_file_b64", "image_url", "size", "type", "type_level",
          "format", "roi", "crop", "crop_margin", "scale", "position", "channels",
          "add_shadow", "shadow_type", "shadow_opacity", "semitransparency", "bg_color",
          "bg_image_url", "bg_image_file")
WHOLE_PHOTO = ("0% 0% 100% 100%", "0 0 100% 100%", "0px 0px 100% 100%")
_DATA_URL = re.compile(r"\s*data:[^,;]*(?:;[^,;]*)*;base64,", re.IGNORECASE)
# A data URL's header (to its first comma) is matched within this many characters only:
# matched against the whole field, `re` kept a frame for each ";" until it failed, and 14
# MB of them held 1.6 GB for 7 s (helper 102).
DATA_URL_HEAD = 1024
_HEX = re.compile(r"^#?([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")
_PERCENT = re.compile(r"([0-9]{1,3})%")  # digits past 3 are never a margin (nor an int)
_NO_PIXELS = ("0", "0px", "0%")
MARGIN_CODE = "invalid_crop_margin"
# Every character str.split() splits at (all of them below U+3001) is deleted: the ASCII
# ones from the text's bytes by bytes.translate (15 MB of base64 in 8-15 ms and one copy,
# where a split made a list, 295 MiB and 5 s for 15 MB of "AB ", and re.sub took 125-170
# ms), the others, only from a text that has them, by one pattern. str.translate took 1.6 s
# for base64 in lines ended by U+2028, and 3.3 s for 5 million U+3000 (now 0.15, 0.3).
_SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_ASCII_SPACES = bytes(ord(c) for c in _SPACES if c.isascii())
_WIDE_SPACES = re.compile("[" + "".join(c for c in _SPACES if not c.isascii()) + "]")
ONE_PHOTO = ("Send the photo as image_file (a file, with multipart/form-data), "
             "image_file_b64 (its bytes in base64) or image_url (an http or https address).")


def _refuse(message: str, code: str) -> Rejected:
    """A refusal with remove.bg's code for it (its API reference's: invalid_<field>,
    missing_source...), for clients that tell problems apart by code."""
    return Rejected(code, message)


def _one_of(field: str, value: Any, choices) -> str:
    if not isinstance(value, str) or value not in choices:  # JSON may send any type
        raise _refuse(f"{field} must be one of: {', '.join(choices)}.", f"invalid_{field}")
    return value


@dataclass(frozen=True)
class Asked:
    """A remove.bg request, translated: our removal's fields, and what the answer needs."""

    fields: dict[str, Any]  # RemoveRequest's fields
    size: str  # remove.bg's size, as asked (for the credits charged)
    typed: bool = True  # whether to say the photo's type (X-Type): not for type_level none

    @property
    def preview(self) -> bool:
        return self.size in PREVIEW


def translated(sent: Mapping[str, Any]) -> Asked:
    """remove.bg's `sent` fields (files as bytes) as a removal of ours, or `Rejected`. An
    absent field, a JSON null and an empty text are alike: the field takes its default."""
    given = {name: value for name, value in sent.items() if value is not None and value != ""}
    unknown = sorted(set(sent) - set(FIELDS))  # empty or not: the docs refuse any
    if unknown:
        raise _refuse(f"Unknown field {quoted(unknown[0])}: remove.bg's fields taken here are "
                      f"{', '.join(FIELDS)}.", "invalid_body")
    ours: dict[str, Any] = _photo(given)
    size = given.get("size", DEFAULT_SIZE)
    ours["size"] = SIZES[_one_of("size", size, SIZES)]
    kind = _one_of("type", given.get("type", "auto"), TYPES)
    level = _one_of("type_level", str(given.get("type_level", "latest")), TYPE_LEVELS)
    _unsupported(given, kind)
    ours.update(_background(given))
    if _one_of("channels", given.get("channels", "rgba"), ("rgba", "alpha")) == "alpha":
        ours["output"] = "mask"
        ours.pop("background", None)
        ours.pop("background_image", None)
    if "crop" in given:
        ours["crop"] = given["crop"]  # true or false: our rule says so otherwise
    ours["crop_margin"] = _margin(given.get("crop_margin", "0"))
    ours["format"] = _format(given.get("format", "auto"), ours)
    return Asked(ours, size, level != "none")


def _photo(given: dict) -> dict:
    sent = [name for name in ("image_file", "image_file_b64", "image_url") if name in given]
    if not sent:
        raise _refuse(ONE_PHOTO, "missing_image")  # remove.bg's missing_source: answers.py
    if len(sent) > 1:
        raise _refuse(f"Send one photo, not {' and '.join(sent)}. {ONE_PHOTO}",
                      "multiple_sources")
    if "image_url" in given:
        return {"image_url": given["image_url"]}
    if "image_file" in given:
        return {"image": _file(given, "image_file", "the photo's bytes in base64 as "
                                                    "image_file_b64, or its address as image_url")}
    return {"image": _base64(given["image_file_b64"])}


def _file(given: dict, field: str, instead: str) -> bytes:
    """A file field's bytes; a text in it (JSON, a urlencoded form) is told what to send."""
    if not isinstance(given[field], bytes):
        raise _refuse(f"{field} is a file, and a JSON body or a urlencoded form holds none: "
                      f"send {instead}, or the file in a multipart form.", "invalid_body")
    return given[field]


def _base64(value: Any) -> bytes:
    if isinstance(value, str):
        text = value if value.isascii() else _WIDE_SPACES.sub("", value)
        # A data URL's base64, as a canvas's toDataURL() makes it (helper 75: refused).
        comma = text.find(",", 0, DATA_URL_HEAD)
        if comma >= 0 and _DATA_URL.fullmatch(text, 0, comma + 1):
            text = text[comma + 1:]
        if text.isascii():
            try:
                return base64.b64decode(text.encode().translate(None, _ASCII_SPACES),
                                        validate=True)
            except ValueError:  # binascii.Error, for any byte that is not base64
                pass
    raise _refuse("image_file_b64 is not valid base64: send the photo's bytes encoded in "
                  "base64 (A-Z, a-z, 0-9, + and /, padded with =), alone or as a data URL's.",
                  "invalid_image")


def _unsupported(given: dict, kind: str) -> None:
    """Fields that ask for work we do not do: refused unless they ask for nothing, or for
    what remove.bg itself would not do with such a photo."""
    for field, kept in (("scale", "size"), ("position", "place")):
        if str(given.get(field, "original")) != "original":
            raise _refuse(f"{field} is not supported here: the subject keeps its {kept} in "
                          f"the result. Leave {field} out, or send original.",
                          f"invalid_{field}")
    if str(given.get("roi", WHOLE_PHOTO[0])) not in WHOLE_PHOTO:
        raise _refuse("roi is not supported here: the whole photo is searched for the "
                      "subject. Leave roi out, or send 0% 0% 100% 100%.", "invalid_roi")
    shadow = as_flag(given.get("add_shadow", False))
    # remove.bg shadows cars alone, and answers any other photo "without shadow, even if
    # set to true": as ours are answered (X-Type other), unless the client said car.
    if shadow is None or (shadow and kind in CARS) or str(
            given.get("shadow_type", "none")) != "none":
        raise _refuse("Shadows are not made here, for cars either: leave add_shadow and "
                      "shadow_type out (or send false and none).", "invalid_add_shadow")
    # Checked, then ignored with the shadow it would shade: clients send remove.bg's default.
    opacity = given.get("shadow_opacity", 50)
    if not re.fullmatch(r"[0-9]{1,3}", str(opacity)) or int(str(opacity)) > 100:
        raise _refuse("shadow_opacity must be a whole number from 0 to 100.",
                      "invalid_shadow_opacity")
    if as_flag(given.get("semitransparency", True)) is None:
        raise _refuse(flag_refused("semitransparency"), "invalid_semitransparency")


def _background(given: dict) -> dict:
    if "bg_color" in given and ("bg_image_file" in given or "bg_image_url" in given):
        raise _refuse("Send one background: bg_color, bg_image_file or bg_image_url.",
                      "multiple_bg_sources")
    if "bg_image_file" in given and "bg_image_url" in given:
        raise _refuse("Send one background photo: bg_image_file or bg_image_url.",
                      "multiple_bg_sources")
    if "bg_image_url" in given:
        return {"output": "image", "background_image_url": given["bg_image_url"]}
    if "bg_image_file" in given:
        return {"output": "image", "background_image": _file(
            given, "bg_image_file", "its address as bg_image_url")}
    if "bg_color" in given:
        colour = _colour(given["bg_color"])
        return {"output": "color", "background": colour} if colour else {}
    return {}


def _colour(value: Any) -> str | None:
    """remove.bg's colour as our #rrggbb; None for a fully transparent one (no background)."""
    text = value.strip().lower() if isinstance(value, str) else ""  # JSON may send 123
    if _HEX.fullmatch(text):
        text = "#" + text.removeprefix("#")
    elif not text or text not in ImageColor.colormap:
        raise _refuse("bg_color must be a hex colour (such as 81d4fa or fff, with or without "
                      "#) or a colour name (such as green).", "invalid_bg_color")
    red, green, blue, *alpha = ImageColor.getrgb(text)
    if alpha == [0]:
        return None
    if alpha not in ([], [255]):
        raise _refuse("A semi-transparent bg_color is not supported here: send an opaque "
                      "colour (6 hex digits, or 8 ending in ff).", "invalid_bg_color")
    return f"#{red:02x}{green:02x}{blue:02x}"


def _margin(value: Any) -> Any:
    """remove.bg's crop_margin (one value, or 2 or 4 equal ones, in % or px) as our percent
    of the subject's longer side; pixels are refused, but for 0."""
    parts = [_unpadded(part) for part in str(value).split(maxsplit=4)]  # five: one too many
    if len(parts) not in (1, 2, 4):
        raise _refuse("crop_margin takes one margin, or two or four (per side, as remove.bg "
                      "reads them), such as 10%.", MARGIN_CODE)
    if len({_same_margin(part) for part in parts}) != 1:
        raise _refuse("crop_margin must be one margin for all sides, such as 10%: "
                      "different margins per side are not supported here.", MARGIN_CODE)
    part = parts[0]
    if part in _NO_PIXELS:
        return 0
    found = _PERCENT.fullmatch(part)
    if not found and _in_pixels(part):
        raise _refuse("crop_margin in pixels is not supported here: give it in percent of "
                      "the subject's size, such as 10%.", MARGIN_CODE)
    # 10.5%, 101%, or not a margin at all (a word, a flag, a list): our rule's sentence
    # would ask for a number without its % sign, which this door refuses.
    if not found or int(found.group(1)) > MARGIN_MAX:
        raise _refuse(f"crop_margin must be a whole percentage from 0 to {MARGIN_MAX}, such "
                      "as 10%.", MARGIN_CODE)
    return found.group(1)


def _in_pixels(part: str) -> bool:
    """remove.bg's absolute margins: 30px, 30, 12.5px. Read without a pattern, whose run of
    digits backtracked through 14 MB of them for 0.7 s."""
    whole, dot, fraction = part.removesuffix("px").partition(".")
    return all(digits.isascii() and digits.isdigit()
               for digits in ((whole, fraction) if dot else (whole,)))


def _unpadded(part: str) -> str:
    """A margin without its leading zeros (007% is 7%, 0000 is 0): stripped here, not by the
    pattern, where `0*` backtracked through 14 MB of zeros for a second (helper 67)."""
    stripped = part.lstrip("0")
    return stripped if stripped == part or stripped[:1].isdigit() else "0" + stripped


def _same_margin(part: str) -> str:
    """A margin as one spelling: 0, 0px, 0% and 00% are one; 10% and 010% too."""
    if part in _NO_PIXELS:
        return "0%"
    found = _PERCENT.fullmatch(part)
    return f"{int(found.group(1))}%" if found else part


def _format(value: Any, ours: dict) -> str:
    """remove.bg's format as ours: auto is PNG when the result may be transparent (the
    cutout, the mask), else JPEG; jpg of a cutout puts it on white, as remove.bg does."""
    output = ours.get("output", DEFAULT_OUTPUT)
    if value == "auto":
        return "png" if output in ("transparent", "mask") else "jpeg"
    chosen = FORMATS[_one_of("format", value, ("auto", *FORMATS))]
    if chosen == "zip" and output == "mask":  # our rule's sentence speaks of output mask
        raise _refuse("A zip holds a result's colours and its alpha, and channels=alpha "
                      "asks for the alpha alone: choose format png, jpg, webp or auto.",
                      "invalid_format")
    if chosen == "jpeg" and output == "transparent":
        ours.update(output="color", background="#ffffff")
    return chosen
