"""A photo's background removed and the result answered, nothing stored: what a visitor
sends for it (an upload's fields but the name, and the result's size), made of the upload's
own fields (forms.py). Its result may also be a zip (fields.RemovalFormat), an answer's
format that is never stored."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from app.core.fields import RemovalFormat, Size, Url, url_rule
from app.core.forms import (
    OutputOptions,
    PhotoRequest,
    UploadRequest,
    absent,
    by_address_model,
    one_photo,
)
from app.images.outputs import DEFAULT_FORMAT


class RemovalOptions(OutputOptions):
    """How a removal's result looks: an upload's options, and the zip format."""

    format: RemovalFormat = DEFAULT_FORMAT


class _Removal(PhotoRequest):
    options_kind = RemovalOptions


_FIELDS = {name: (info.annotation, info) for name, info in UploadRequest.model_fields.items()
           if name != "name"}
_FIELDS["format"] = (RemovalFormat, DEFAULT_FORMAT)
_FIELDS["background_image_url"] = (Annotated[Url, Field(
    description="The address of the photo behind the subject with output `image`, instead "
                "of background_image: fetched as image_url is."),
    url_rule("the background photo's")], absent())


def _photos(self: BaseModel) -> BaseModel:
    """One photo, and with output `image` one background photo: a file or an address."""
    backdrop = getattr(self, "background_image", None)
    if backdrop is not None and self.background_image_url is not None:
        raise PydanticCustomError("invalid_body", "Send the background photo as a file "
                                                  "(background_image) or an address "
                                                  "(background_image_url), not both.")
    # An empty file is a photo sent (and found empty), as at the other calls.
    one_photo(self, backdrop if backdrop is not None else self.background_image_url)
    return self


RemoveRequest = create_model(
    "RemoveRequest", __base__=_Removal,
    __doc__="A photo (a file, or an address) and how its result should look, at what size; "
            "nothing is stored.",
    __validators__={"_one_photo": model_validator(mode="after")(_photos)},
    **_FIELDS, size=(Size, "full"))
RemoveByAddress = by_address_model(
    "RemoveByAddress", "A photo at an address: RemoveRequest without the file fields.",
    RemoveRequest, _photos)
