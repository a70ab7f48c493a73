"""What a visitor may send, declared once: an upload, an edit of a record (its name or how
its result looks) and the original app's rename, made of the fields in fields.py. The page
and the API both validate with these models, and the API's OpenAPI document is generated
from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_core import PydanticCustomError

from app.core.errors import Rejected
from app.core.fields import (
    NEEDS_BACKDROP,
    NO_PHOTO,
    Backdrop,
    Colour,
    Crop,
    Format,
    Margin,
    Model,
    Name,
    Output,
    PhotoFile,
    RefineEdges,
    Rule,
    Url,
    implied_output,
)
from app.images.outputs import DEFAULT_BACKGROUND, DEFAULT_FORMAT, DEFAULT_OUTPUT, OPAQUE

# A lone surrogate (JSON "\ud800") is a valid Python string but not text that can be stored;
# a form's broken bytes arrive as U+FFFD (fields.BROKEN_TEXT), refused alike.
NOT_TEXT = ("{field} holds a character that is not valid text (an unpaired surrogate or a "
            "U+FFFD replacement character). Please type it again.")
# Null is no value of any field: an optional field is left out to keep its value or take
# its default, never sent as null (which a JSON body could, and a form cannot).
NULL = "{field} cannot be null: send a value, or leave the field out."
REPEATED = "The field {field} was sent more than once."
SHOWN_NAME = 40  # a field's name as quoted: a name sent by mistake may be a whole body
FILES = ("image", "background_image")  # a photo's bytes: only multipart/form-data has them
_STRICT = ConfigDict(extra="forbid", frozen=True)
Form = TypeVar("Form", bound=BaseModel)


def repeated(field: str) -> Rejected:
    """A field sent twice, in a form or as a JSON object's key: which value was meant?"""
    return Rejected("invalid_body", REPEATED.format(field=quoted(field)))


def unknown_field(field: str, known) -> Rejected:
    return Rejected("invalid_body", f"Unknown field {quoted(field)}: send only {', '.join(known)}.")


def quoted(field: str) -> str:
    """A field's name as sent, quoted, and cut short past SHOWN_NAME characters."""
    return repr(field if len(field) <= SHOWN_NAME else field[:SHOWN_NAME] + "…")


def absent(value: Any = None):
    """The default of a field that may be left out but not sent as null: said in words, not
    as the document's `default`, since another field may change it (a colour asks for
    output color), which a client sending every default (a generated one) would undo."""
    def undefaulted(schema: dict) -> None:
        if schema.pop("default", None) is not None:
            schema["description"] += f" Default: `{value}`."
    return Field(value, json_schema_extra=undefaulted)


def _check_format(output: str, file_format: str) -> None:
    if file_format == "jpeg" and output not in OPAQUE:
        raise PydanticCustomError("invalid_options", "A JPEG cannot hold transparency: choose "
                                  "PNG or WebP, or put the subject on a background.")
    if file_format == "zip" and output == "mask":
        raise PydanticCustomError("invalid_options", "A zip holds a result's colours and its "
                                  "alpha, and the mask has no colours: choose png, webp or "
                                  "jpeg for output mask.")


# Each output option once: its rule (fields.py) and its default. OutputOptions keeps them as
# stored, UploadRequest takes them as a form sends them, EditFields as changes to a record.
OPTIONS: dict[str, tuple[Any, Any]] = {
    "output": (Output, DEFAULT_OUTPUT), "background": (Colour, DEFAULT_BACKGROUND),
    "crop": (Crop, False), "crop_margin": (Margin, 5), "format": (Format, DEFAULT_FORMAT),
    "refine_edges": (RefineEdges, False)}


def _as_sent(value: Any) -> Any:
    """A default as a form sends it: a field is text, so `false` is documented, not False."""
    if isinstance(value, bool):
        return Field(value, json_schema_extra={"default": str(value).lower()})
    return value


class _Options(BaseModel):
    model_config = _STRICT

    @model_validator(mode="after")
    def _fits(self) -> BaseModel:
        _check_format(self.output, self.format)
        return self


OutputOptions = create_model(
    "OutputOptions", __base__=_Options, __doc__="How a result looks; stored with the record.",
    **{**OPTIONS, "background": (Colour | None, Field(
        None, description="Set only when output is `color`."))})


def _photo_check(self: BaseModel) -> BaseModel:
    one_photo(self, getattr(self, "background_image", None))
    return self


class PhotoRequest(BaseModel):
    """A request with a photo, a file or an address, and output options (of
    `options_kind`): an upload's, or a removal's (removal.py)."""

    model_config = ConfigDict(_STRICT, json_schema_extra={
        "oneOf": [{"required": ["image"]}, {"required": ["image_url"]}]})
    options_kind: ClassVar[type[OutputOptions]] = OutputOptions
    _implied = model_validator(mode="before")(implied_output)
    _one_photo = model_validator(mode="after")(_photo_check)

    @property
    def options(self) -> OutputOptions:
        chosen = {name: getattr(self, name) for name in OutputOptions.model_fields}
        if self.output != "color":
            chosen["background"] = None  # checked, then not kept
        return self.options_kind(**chosen)


# As a form sends them: `false`, not False; an output and a colour in words (`absent`).
_UPLOAD_OPTIONS = {name: (rule, absent(value) if name in ("output", "background")
                          else _as_sent(value)) for name, (rule, value) in OPTIONS.items()}
UploadRequest = create_model(
    "UploadRequest", __base__=PhotoRequest,
    __doc__="A new image: its name, the photo (a file, or an address to fetch it from) and "
            "how the result should look.",
    name=(Name, ...), image=(PhotoFile, absent()), image_url=(Url, absent()),
    model=(Model, absent()), output=_UPLOAD_OPTIONS.pop("output"),
    background=_UPLOAD_OPTIONS.pop("background"), background_image=(Backdrop, absent()),
    **_UPLOAD_OPTIONS)


def one_photo(upload: BaseModel, backdrop: bytes | str | None) -> None:
    """A form's photo check: one photo (`image` or its address), a background photo (its
    bytes or address) for output image, and a format that can hold the output."""
    files = "image" in type(upload).model_fields
    image = getattr(upload, "image", None)
    if image is None and upload.image_url is None:
        raise PydanticCustomError("missing_image", NO_PHOTO if files else
                                  "Give the photo's address as image_url (a file needs "
                                  "multipart/form-data).")
    if image is not None and upload.image_url is not None:
        raise PydanticCustomError("invalid_body",
                                  "Send a file or an address (image_url), not both.")
    if upload.output == "image" and backdrop is None:
        by_address = "background_image_url" in type(upload).model_fields  # a removal's
        raise PydanticCustomError(
            NEEDS_BACKDROP.code, NEEDS_BACKDROP.message if files
            else "Output image puts a photo of yours behind the subject: send it as "
            "background_image, with multipart/form-data"
            + (", or its address as background_image_url." if by_address else "."))
    _check_format(upload.output, upload.format)


def _needs_url(schema: dict) -> None:
    schema["required"] = [*schema.get("required", ()), "image_url"]


def by_address_model(name: str, doc: str, form: type[BaseModel],
                     check=_photo_check) -> type[BaseModel]:
    """`form` without the file fields, for the bodies that carry no file (JSON, a
    urlencoded form): its rules are the form's own fields, not copies of them; `check`
    is its photo check."""
    return create_model(
        name, __doc__=doc, __config__=ConfigDict(_STRICT, json_schema_extra=_needs_url),
        __validators__={"_implied": model_validator(mode="before")(implied_output),
                        "_one_photo": model_validator(mode="after")(check)},
        **{field: (info.annotation, info) for field, info in form.model_fields.items()
           if field not in FILES})


UploadByAddress = by_address_model(
    "UploadByAddress", "A new image from a photo at an address: UploadRequest without the "
    "file fields.", UploadRequest)


def from_address(form: type[Form], by_address: type[BaseModel],
                 values: Mapping[str, Any]) -> Form:
    """A request sent without a file, checked as `by_address` (`form` without its file
    fields), as the core takes every request of its kind: a `form`."""
    checked = parse(by_address, values)
    return form.model_validate(checked.model_dump(exclude_unset=True))


class _Edit(BaseModel):
    # An empty edit is refused (below): the document says so.
    model_config = ConfigDict(_STRICT, json_schema_extra={"minProperties": 1})
    _implied = model_validator(mode="before")(implied_output)

    @model_validator(mode="after")
    def _something(self) -> BaseModel:
        if not self.model_fields_set:
            raise PydanticCustomError("invalid_body", "Send at least one of: "
                                      f"{', '.join(type(self).model_fields)}.")
        return self

    @property
    def backdrop(self) -> bytes | None:
        return None

    @property
    def restyles(self) -> bool:
        """Whether this edit makes the result again: anything but a new name."""
        return bool(self.model_fields_set - {"image_name"})

    def options(self, current: OutputOptions) -> OutputOptions:
        """The options after this edit; `Rejected` if they do not go together."""
        changes = {name: getattr(self, name) for name in OutputOptions.model_fields
                   if name in self.model_fields_set and name != "background"}
        merged = {**current.model_dump(), **changes}
        colour = self.background or current.background or DEFAULT_BACKGROUND
        merged["background"] = colour if merged["output"] == "color" else None
        return parse(OutputOptions, merged)


EditFields = create_model(
    "EditFields", __base__=_Edit,
    __doc__="A change to a record: its name, and how its result looks (the result is made "
            "again from the stored photo and mask: the model does not run again). Absent "
            "fields keep their values. (As JSON; a form may also carry a new background "
            "photo: EditRequest.)",
    image_name=(Name, absent()), **{name: (rule, absent()) for name, (rule, _) in
                                    OPTIONS.items()})


class EditRequest(EditFields):
    """An edit sent as a form, which may carry a new photo to put behind the subject."""

    background_image: Backdrop = absent()

    @property
    def backdrop(self) -> bytes | None:
        return self.background_image


class RenameRequest(BaseModel):
    """A new name (the original app's `PUT /update`)."""

    model_config = _STRICT

    image_name: Name


def parse(form: type[Form], values: Mapping[str, Any]) -> Form:
    """`values` as a `form`, or `Rejected` with the code and sentence of the first broken
    rule (unknown fields first: a request that is not this form at all)."""
    try:
        return form.model_validate(dict(values))
    except ValidationError as exc:
        raise _rejected(form, exc) from None


def _rejected(form: type[BaseModel], exc: ValidationError) -> Rejected:
    error = min(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        if field in FILES and not isinstance(error["input"], bytes):  # a file in JSON, say
            return Rejected("invalid_body", f"{field} is a file: send it with "
                                            "multipart/form-data.")
        return unknown_field(field, form.model_fields)
    if error["type"] == "string_unicode" and not field:  # a field's name in JSON
        return Rejected("invalid_body", NOT_TEXT.format(field="A field's name"))
    if not field:  # a rule about several fields: its error says which code and why
        return Rejected(error["type"], error["msg"])
    rule = rule_of(form, field)
    if error.get("input", "") is None and not form.model_fields[field].is_required():
        return Rejected(rule.code, NULL.format(field=field), field=field)
    if error["type"] == rule.code:  # the field's own check, with a more precise sentence
        return Rejected(rule.code, error["msg"], field=field)
    if error["type"] == "string_unicode":
        return Rejected(rule.code, NOT_TEXT.format(field=f"The {field.replace('_', ' ')}"),
                        field=field)
    return Rejected(rule.code, rule.message, field=field)


def rule_of(form: type[BaseModel], field: str) -> Rule:
    """The field's own rule: the last one, set over its type's (a background photo's
    address over an address's)."""
    info = form.model_fields[field]
    found = [meta for meta in info.metadata if isinstance(meta, Rule)]
    if not found:  # an optional field: the rule is on the type inside `X | None`
        found = [meta for arg in getattr(info.annotation, "__args__", ())
                 for meta in getattr(arg, "__metadata__", ()) if isinstance(meta, Rule)]
    return found[-1]
