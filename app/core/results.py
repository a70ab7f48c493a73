"""What an upload and an edit share: making a result (and its renditions) from a photo, a
mask and the look asked for, within a turn of the engines' admission; and what each
failure on the way tells the visitor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.core.errors import ENGINE_FAILED, LIMIT_REACHED, UNEXPECTED, Rejected, busy
from app.core.forms import OutputOptions
from app.engines import Busy, EngineError, EngineRunner, Masked, Work
from app.images import pngwriter
from app.images import thumbnails as renditions
from app.images.compose import Rendered, render
from app.images.decoding import InvalidImage, Photo
from app.model_files import MODELS
from app.storage import LimitReached, NewImage, StaleRecord, StorageUnavailable

log = logging.getLogger(__name__)
CHANGED = "The image changed while this was being made. Please try again."
NOT_INSTALLED = ("The {label} model ({name}) is not installed on this server. Please choose "
                 "another.")


def check_model(engines: EngineRunner, model: str | None) -> None:
    """`Rejected` when an upload names a model this server cannot run."""
    if model is not None and model not in engines.models():
        raise Rejected("invalid_options", NOT_INSTALLED.format(
            label=MODELS[model].label, name=model))


@dataclass(frozen=True)
class Cutout:
    result: Rendered
    masked: Masked
    thumbnails: dict  # {kind: {size: Rendered}}, when asked for


def cut_out(engines: EngineRunner, photo: Photo, options: OutputOptions, *,
            pay: Callable[[int], None], thumbnails: tuple[str, ...] = (),
            backdrop: Photo | None = None, mask: Masked | None = None,
            model: str | None = None) -> Cutout:
    """The result `options` ask for (and the gallery renditions of `thumbnails`, kinds of
    image: "original", "processed"), from `photo` and its mask
    (the engine's, with `model`, or the kept `mask`), over `backdrop` for output `image`.
    `pay` is given the work's rate-limit counts once it is sure to be admitted."""
    work = Work(photo.info.pixels + (backdrop.info.pixels if backdrop else 0),
                options.refine_edges)

    def finish(masked: Masked) -> Cutout:
        full, behind = photo.full(), backdrop.full() if backdrop else None
        small = (renditions.of_result(full, masked.mask, options, behind, thumbnails)
                 if thumbnails else {})
        return Cutout(render(full, masked.mask, options, behind), masked, small)

    return engines.make(photo, finish, work, pay=pay, mask=mask, model=model)


def new_image(image: Rendered) -> NewImage:
    return NewImage(image.data, image.content_type, image.width, image.height)


def mask_image(mask: Image.Image) -> NewImage:
    """The engine's mask as it is kept with the record: a greyscale PNG of its own size."""
    data = pngwriter.encode(np.asarray(mask.convert("L")))
    return NewImage(data, "image/png", mask.width, mask.height)


@contextmanager
def refusals(what: str) -> Iterator[None]:
    """Every expected failure inside as a `Rejected` with its sentence (`StorageUnavailable`
    passes: every route answers it the same way); anything else is logged."""
    try:
        yield
    except (Rejected, StorageUnavailable):
        raise
    except InvalidImage as exc:
        raise Rejected("invalid_image", exc.message, exc.kind) from exc
    except LimitReached as exc:
        raise Rejected("limit_reached", LIMIT_REACHED, "conflict") from exc
    except StaleRecord as exc:
        raise Rejected("conflict", CHANGED, "conflict") from exc
    except Busy as exc:
        raise busy(exc.retry_after) from exc
    except EngineError as exc:
        log.warning("Engine failed: %s", exc.message)
        raise Rejected("engine_failed", f"{ENGINE_FAILED}. {exc.message}", exc.kind) from exc
    except Exception as exc:
        log.exception("%s failed unexpectedly", what)
        raise Rejected("internal_error", UNEXPECTED, "unexpected") from exc


@contextmanager
def counted(outcomes) -> Iterator[None]:
    """The block's outcome counted in the `outcomes` metric: success, or the refusal's code."""
    try:
        yield
    except Rejected as exc:
        outcomes.labels(exc.code).inc()
        raise
    except StorageUnavailable:
        outcomes.labels("storage_unavailable").inc()
        raise
    outcomes.labels("success").inc()
