"""What a visitor may send, declared once: the upload and the rename, their fields, limits,
defaults and the sentence each rule answers with. The page and the API both validate with
these models, and the API's OpenAPI document is generated from them.

A field's `Rule` names the stable error code and the message a refusal of that field gets.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.core.errors import Rejected
from app.images.compose import FORMATS


@dataclass(frozen=True)
class Rule:
    code: str
    message: str


NAME_MAX = 50
# Python's whitespace (what a name is trimmed of), written out: the document and the server
# then agree on every character, whatever a client's regex engine calls whitespace.
WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
OUTPUTS = ("transparent", "color", "mask")
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False, "on": True,
                 "off": False, "yes": True, "no": False}
_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


# A lone surrogate (JSON "\ud800") is a valid Python string but not text that can be stored.
NOT_TEXT = ("{field} holds a character that is not valid text (an unpaired surrogate). "
            "Please type it again.")


def _flag(value: Any) -> Any:
    if isinstance(value, str) and value in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[value]
    if isinstance(value, bool):
        return value
    raise PydanticCustomError("flag", "not a flag")


def _whole_number(value: Any) -> Any:
    if isinstance(value, str) and _WHOLE_NUMBER.match(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticCustomError("whole_number", "not a whole number")


def _one_of(field: str, choices) -> Rule:
    return Rule("invalid_options", f"{field} must be one of: {', '.join(choices)}.")


Name = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX, pattern=f"[^{WHITESPACE}]",
               description=f"1 to {NAME_MAX} characters, not only spaces; leading and "
                           "trailing spaces are removed."),
    AfterValidator(str.strip),
    Rule("invalid_name", f"Please give the image a name of 1 to {NAME_MAX} characters.")]
Photo = Annotated[
    bytes, Field(description="A JPEG, PNG or WebP still image, within the upload limit and "
                             "the pixel limit."),
    Rule("missing_image", "Please choose an image to upload.")]
Output = Annotated[
    Literal[OUTPUTS], Field(description="`transparent` cutout, subject over a `color`, or the "
                                        "`mask` alone."),
    _one_of("output", OUTPUTS)]
Colour = Annotated[
    str, Field(pattern=r"^#[0-9a-fA-F]{6}$",
               description="The colour behind the subject with output `color`; checked, "
                           "then ignored, with the other outputs."),
    AfterValidator(str.lower),
    Rule("invalid_options", "Choose a background colour as #rrggbb, e.g. #ffffff.")]
Flag = Annotated[
    bool, BeforeValidator(_flag),
    WithJsonSchema({"type": "string", "enum": list(BOOLEAN_WORDS)}, mode="validation"),
    Field(description="Crop to the subject."),
    Rule("invalid_options", "crop must be true or false.")]
Margin = Annotated[
    int, Field(ge=0, le=100, description=(
        "Margin around the subject when cropping, in percent of its longer side.")),
    BeforeValidator(_whole_number),
    Rule("invalid_options", "The crop margin must be a whole number from 0 to 100 (%).")]
Format = Annotated[Literal[tuple(FORMATS)], Field(description="The result's file format."),
                   _one_of("format", FORMATS)]

_STRICT = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


class OutputOptions(BaseModel):
    """How a result looks; stored with the record."""

    model_config = _STRICT

    output: Output = "transparent"
    background: Colour | None = Field(None, description="Set only when output is `color`.")
    crop: Flag = False
    crop_margin: Margin = 5
    format: Format = "png"

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


DEFAULT_BACKGROUND = "#ffffff"  # where the page's colour picker starts


class UploadRequest(BaseModel):
    """A new image: its name, the photo and how the result should look."""

    model_config = _STRICT

    name: Name
    image: Photo
    output: Output = "transparent"
    background: Colour = DEFAULT_BACKGROUND
    # On the wire a form field is text: the default is documented as the text sent for it.
    crop: Flag = Field(False, json_schema_extra={"default": "false"})
    crop_margin: Margin = 5
    format: Format = "png"

    @property
    def options(self) -> OutputOptions:
        return OutputOptions(
            output=self.output, crop=self.crop, crop_margin=self.crop_margin,
            format=self.format,
            background=self.background if self.output == "color" else None)


class RenameRequest(BaseModel):
    """A new name for a record (the name is all that can change)."""

    model_config = _STRICT

    image_name: Name


Form = TypeVar("Form", bound=BaseModel)


def parse(form: type[Form], values: Mapping[str, Any]) -> Form:
    """`values` as a `form`, or `Rejected` with the code and sentence of the first broken
    rule (unknown fields first: a request that is not this form at all)."""
    try:
        return form.model_validate(dict(values))
    except ValidationError as exc:
        raise _rejected(form, exc) from None


def _rejected(form: type[BaseModel], exc: ValidationError) -> Rejected:
    errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
    error = errors[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return Rejected("invalid_body", f"Unknown field {field!r}: send only "
                                        f"{', '.join(form.model_fields)}.")
    rule = rule_of(form, field)
    if error["type"] == "string_unicode":
        return Rejected(rule.code, NOT_TEXT.format(field=f"The {field.replace('_', ' ')}"))
    return Rejected(rule.code, rule.message)


def rule_of(form: type[BaseModel], field: str) -> Rule:
    info = form.model_fields[field]
    return next(meta for meta in info.metadata if isinstance(meta, Rule))
