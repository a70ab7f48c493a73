"""What a visitor may send, declared once: an upload, an edit of a record (its name or how
its result looks) and the original app's rename, made of the fields in fields.py. The page
and the API both validate with these models, and the API's OpenAPI document is generated
from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from app.core.errors import Rejected
from app.core.fields import (
    NEEDS_BACKDROP,
    Backdrop,
    Colour,
    Crop,
    Format,
    Margin,
    Model,
    Name,
    Output,
    Photo,
    RefineEdges,
    Rule,
    Url,
)
from app.images.compose import OPAQUE

# A lone surrogate (JSON "\ud800") is a valid Python string but not text that can be stored.
NOT_TEXT = ("{field} holds a character that is not valid text (an unpaired surrogate). "
            "Please type it again.")
DEFAULT_BACKGROUND = "#ffffff"  # where the page's colour picker starts
_STRICT = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


def _refuse(code: str, message: str):
    return PydanticCustomError(code, message)


def _check_format(output: str, file_format: str) -> None:
    if file_format == "jpeg" and output not in OPAQUE:
        raise _refuse("invalid_options", "A JPEG cannot hold transparency: choose PNG or "
                                         "WebP, or put the subject on a background.")


class OutputOptions(BaseModel):
    """How a result looks; stored with the record."""

    model_config = _STRICT

    output: Output = "transparent"
    background: Colour | None = Field(None, description="Set only when output is `color`.")
    crop: Crop = False
    crop_margin: Margin = 5
    format: Format = "png"
    refine_edges: RefineEdges = False

    @model_validator(mode="after")
    def _fits(self) -> OutputOptions:
        _check_format(self.output, self.format)
        return self


class UploadRequest(BaseModel):
    """A new image: its name, the photo (a file, or an address to fetch it from) and how
    the result should look."""

    model_config = ConfigDict(_STRICT, json_schema_extra={
        "oneOf": [{"required": ["image"]}, {"required": ["image_url"]}]})

    name: Name
    image: Photo | None = None
    image_url: Url | None = None
    model: Model | None = None
    output: Output = "transparent"
    background: Colour = DEFAULT_BACKGROUND
    background_image: Backdrop | None = None
    # On the wire a form field is text: the defaults are documented as the text sent.
    crop: Crop = Field(False, json_schema_extra={"default": "false"})
    crop_margin: Margin = 5
    format: Format = "png"
    refine_edges: RefineEdges = Field(False, json_schema_extra={"default": "false"})

    @model_validator(mode="after")
    def _one_photo(self) -> UploadRequest:
        if self.image is None and self.image_url is None:
            raise _refuse("missing_image", "Please choose an image to upload, or give the "
                                           "address of one.")
        if self.image is not None and self.image_url is not None:
            raise _refuse("invalid_body", "Send a file or an address (image_url), not both.")
        if self.output == "image" and self.background_image is None:
            raise _refuse(NEEDS_BACKDROP.code, NEEDS_BACKDROP.message)
        _check_format(self.output, self.format)
        return self

    @property
    def options(self) -> OutputOptions:
        return OutputOptions(
            output=self.output, crop=self.crop, crop_margin=self.crop_margin,
            format=self.format, refine_edges=self.refine_edges,
            background=self.background if self.output == "color" else None)


class EditFields(BaseModel):
    """A change to a record: its name, and how its result looks (the result is made again
    from the stored photo and mask: the model does not run again). Absent fields keep
    their values. (As JSON; a form may also carry a new background photo: EditRequest.)"""

    model_config = _STRICT

    image_name: Name | None = None
    output: Output | None = None
    background: Colour | None = None
    crop: Crop | None = None
    crop_margin: Margin | None = None
    format: Format | None = None
    refine_edges: RefineEdges | None = None

    @model_validator(mode="after")
    def _something(self) -> EditFields:
        if not self.model_fields_set:
            raise _refuse("invalid_body", "Send at least one of: "
                                          f"{', '.join(type(self).model_fields)}.")
        return self

    @property
    def backdrop(self) -> bytes | None:
        return None

    @property
    def restyles(self) -> bool:
        return restyles(self.model_fields_set)

    def options(self, current: OutputOptions) -> OutputOptions:
        """The options after this edit; `Rejected` if they do not go together."""
        changes = {name: getattr(self, name) for name in OutputOptions.model_fields
                   if name in self.model_fields_set and name != "background"}
        merged = {**current.model_dump(), **changes}
        colour = self.background or current.background or DEFAULT_BACKGROUND
        merged["background"] = colour if merged["output"] == "color" else None
        return parse(OutputOptions, merged)


def restyles(fields: Iterable[str]) -> bool:
    """Whether an edit sending `fields` makes the result again: anything but a new name."""
    return bool(set(fields) - {"image_name"})


class EditRequest(EditFields):
    """An edit sent as a form, which may carry a new photo to put behind the subject."""

    background_image: Backdrop | None = None

    @property
    def backdrop(self) -> bytes | None:
        return self.background_image


class RenameRequest(BaseModel):
    """A new name (the original app's `PUT /update`)."""

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
    if not field:  # a rule about several fields: its error says which code and why
        return Rejected(error["type"], error["msg"])
    rule = rule_of(form, field)
    if error["type"] == rule.code:  # the field's own check, with a more precise sentence
        return Rejected(rule.code, error["msg"])
    if error["type"] == "string_unicode":
        return Rejected(rule.code, NOT_TEXT.format(field=f"The {field.replace('_', ' ')}"))
    return Rejected(rule.code, rule.message)


def rule_of(form: type[BaseModel], field: str) -> Rule:
    info = form.model_fields[field]
    found = [meta for meta in info.metadata if isinstance(meta, Rule)]
    if not found:  # an optional field: the rule is on the type inside `X | None`
        found = [meta for arg in getattr(info.annotation, "__args__", ())
                 for meta in getattr(arg, "__metadata__", ()) if isinstance(meta, Rule)]
    return found[0]
