"""The output options of a removal as command-line options, made from the core's own form
(`RemoveRequest`): each field's name, choices, default and description, so a new field of
the form is a new option here with no edit; and the values checked by that same form."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import click

from app.batch.files import NOT_REGULAR, is_regular
from app.core.errors import Rejected
from app.core.forms import parse
from app.core.removal import RemoveRequest
from app.core.results import backdrop_of, check_model
from app.images.decoding import InvalidImage

PHOTO_FIELDS = ("image", "image_url")  # the photo is each file of the batch


def _help(info) -> str:
    text = (info.description or "").replace("`", "")
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    shown = extra.get("default", info.default)  # a flag's, as the form's text writes it
    return f"{text} [default: {shown}]" if shown is not None else text


def output_options() -> list[click.Option]:
    """One option per field of RemoveRequest but the photo: `--crop-margin` for crop_margin.
    An option left out is left out of the form too, which then takes its own default."""
    made = []
    for name, info in RemoveRequest.model_fields.items():
        if name in PHOTO_FIELDS:
            continue
        # Text unless said otherwise, as a form sends it: the form reads numbers and sizes.
        flag, kind, type_ = "--" + name.replace("_", "-"), info.annotation, None
        if kind is bool:
            flag = f"{flag}/--no-{flag[2:]}"
        elif kind is bytes:  # a photo of its own, read from a file
            type_ = click.Path(exists=True, dir_okay=False, path_type=Path)
        elif get_origin(kind) is Literal:
            type_ = click.Choice([str(c) for c in get_args(kind)])
        made.append(click.Option([flag, name], type=type_, default=None, help=_help(info)))
    return made


def chosen(given: dict[str, Any]) -> dict[str, Any]:
    """The values of the options given (files read), as the form takes them."""
    values = {}
    for name in RemoveRequest.model_fields:  # the form's order, not the command line's
        value = given.get(name)
        if isinstance(value, Path) and not is_regular(value):
            raise click.UsageError(f"--{name.replace('_', '-')} {value}: {NOT_REGULAR}.")
        if value is not None:
            values[name] = value.read_bytes() if isinstance(value, Path) else value
    return values


def check(values: dict[str, Any], max_pixels: int, engines=None) -> Any:
    """`values` checked as the core checks a photo's: by its form, a background photo
    within `max_pixels` and, given this process's `engines`, the model. A bad value, a
    combination that does not go together, a background that is no photo or a model not
    installed is a `click.UsageError` with the core's own sentence, not every photo failing."""
    try:
        form = parse(RemoveRequest, {**values, "image": b"\xff\xd8\xff"})
        if values.get("background_image") is not None:
            backdrop_of(values["background_image"], max_pixels)
        if engines is not None:
            check_model(engines, form.model)
    except (Rejected, InvalidImage) as exc:
        raise click.UsageError(exc.message) from None
    return form

