"""A result, made: from a photo, its mask and the options asked for, the result and its
renditions, within a turn of the engines' admission (what an upload and an edit share);
and what each failure on the way tells the visitor (`refusals`), wherever it happens."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from app.core.errors import ENGINE_FAILED, LIMIT_REACHED, UNEXPECTED, Rejected, busy, not_found
from app.core.forms import OutputOptions
from app.engines import Busy, EngineError, EngineRunner, Masked, Work
from app.images import pngwriter
from app.images import thumbnails as renditions
from app.images.compose import render
from app.images.decoding import InvalidImage, Photo, decode, probe
from app.images.outputs import (
    ENCODER_ROOM,
    ENCODING_COST,
    FORMAT_LABELS,
    MAX_PIXELS,
    EncodedImage,
    TooLargeForFormat,
    check_fits,
)
from app.model_files import MODELS
from app.storage import LimitReached, RecordNotFound, StaleRecord, StorageUnavailable

log = logging.getLogger(__name__)
CHANGED = "The image changed while this was being made. Please try again."
BACKDROP_FAILED = "The background photo could not be used. "
TOO_LARGE_FOR_FORMAT = ("A {format} result can be at most {limit:,} pixels wide and high, and "
                        "this one would be {width:,} × {height:,}. Choose PNG, or send a "
                        "smaller photo.")
TOO_MANY_PIXELS_FOR_FORMAT = ("A {format} result can have at most {limit_mp:g} megapixels, "
                              "and this one would be {width:,} × {height:,}. Choose PNG, or "
                              "send a smaller photo.")
NOT_INSTALLED = ("The {label} model ({name}) is not installed on this server. Please choose "
                 "another.")


def check_model(engines: EngineRunner, model: str | None) -> None:
    """`Rejected` when an upload names a model this server cannot run."""
    if model is not None and model not in engines.models():
        raise Rejected("invalid_options", NOT_INSTALLED.format(
            label=MODELS[model].label, name=model))


def photo_of(data: bytes, max_pixels: int, stored: bool = False) -> Photo:
    """A checked photo: a still JPEG, PNG or WebP within `max_pixels` (`InvalidImage`);
    `stored`: a record's own, taken before today's limits (a WebP's)."""
    return Photo(data, probe(data, max_pixels, stored))


def backdrop_of(data: bytes, max_pixels: int) -> Photo:
    """A checked background photo: its refusals say it is the background's that failed."""
    with _the_backdrops():
        return photo_of(data, max_pixels)


class InvalidBackdrop(InvalidImage):
    """The background photo's refusal: a code of its own, so that a client (the page) can
    tell it from the photo's and keep the photo."""


@contextmanager
def _the_backdrops() -> Iterator[None]:
    """An `InvalidImage` inside says it is the background photo's, wherever it is found."""
    try:
        yield
    except InvalidImage as exc:
        raise InvalidBackdrop(BACKDROP_FAILED + exc.message, exc.kind) from None


def encoded(photo: Photo) -> EncodedImage:
    """A checked photo as it is stored, unchanged."""
    info = photo.info
    return EncodedImage(photo.data, info.content_type, info.width, info.height)


@dataclass(frozen=True)
class Cutout:
    result: EncodedImage
    masked: Masked
    thumbnails: dict  # {kind: {size: EncodedImage}}, when asked for


class Allowance(Protocol):
    """What a job may take from the rate limits (app/http/limits.py answers for the request
    being served), priced by the `Work`."""

    def check(self, work: Work) -> None:
        """`Rejected` now if `work` would not fit; nothing is taken."""

    def spend(self, work: Work) -> None:
        """Take what `work` costs, or `Rejected`."""

    def holder(self) -> str | None:
        """Who the work is for, as the limits count it: an API key, or a visitor's network
        (a photo by address is fetched for it, core/fetching/gate.py); None for the
        operator's own work."""


class Unlimited:
    """No rate limit's: work on the operator's own machine (flask remove-bg)."""

    def check(self, work: Work) -> None:
        pass

    spend = check

    def holder(self) -> None:
        return None


# What a request refused for what it sent pays once its photo was read or fetched, as
# checks and fetches are work: free, they let one client make this server download 1.2 GB
# in 2.4 s, or spend 17 s of CPU in 20 (helper 79). One count of the minute's limits.
_FEE_KINDS = ("invalid", "too_large", "unsupported")


class Paying:
    """`pay` for one request, noting whether a photo it sent is being read
    (`before_reading`) and whether its job was paid for; `fee_if_refused()` around the
    request takes the fee from one refused between the two."""

    def __init__(self, pay: Allowance):
        self.pay, self.reading, self.paid = pay, False, False

    def check(self, work: Work) -> None:
        self.pay.check(work)

    def spend(self, work: Work) -> None:
        self.pay.spend(work)
        self.paid = True

    def holder(self) -> str | None:
        return self.pay.holder()

    def before_reading(self) -> None:
        """`Rejected` unless the client has an allowance left (any job costs at least one):
        a photo sent or fetched is read only then, and a refusal after pays the fee."""
        self.pay.check(Work(0))
        self.reading = True

    @contextmanager
    def fee_if_refused(self) -> Iterator[Paying]:
        try:
            yield self
        except Rejected as exc:
            if self.reading and not self.paid and exc.kind in _FEE_KINDS:
                with suppress(Rejected):  # a limit full now refuses the next request
                    self.pay.spend(Work(0, fee=True))
            raise


def priced(options: OutputOptions, pixels: int, behind: int = 0, **how) -> Work:
    """The price of the result `options` ask for, of a photo of `pixels` over a background
    photo of `behind`, `how` it is made (engines/admission.py `Work`): the encode is of
    the result alone, which a format's pixel limit bounds (a crop's size is known only once
    it is made, and a larger one is refused), and its encoder's memory is held in the
    admission's room."""
    encoded = min(pixels, MAX_PIXELS.get(options.format, pixels))
    return Work(pixels + behind, options.refine_edges,
                extra=round((ENCODING_COST.get(options.format, 1.0) - 1) * encoded),
                buffered=round(ENCODER_ROOM.get(options.format, 0.0) * encoded), **how)


def cut_out(engines: EngineRunner, photo: Photo, options: OutputOptions, *,
            pay: Allowance, thumbnails: tuple[str, ...] = (),
            backdrop: Photo | None = None, mask: Masked | None = None,
            model: str | None = None) -> Cutout:
    """The result `options` ask for (and the gallery renditions of `thumbnails`, kinds of
    image: "original", "processed"), from `photo` and its mask
    (the engine's, with `model`, or the kept `mask`), over `backdrop` for output `image`.
    The work is paid for from `pay` once it holds its place in the admission's line."""
    work = priced(options, photo.info.pixels, backdrop.info.pixels if backdrop else 0,
                  remade=mask is not None, held=photo.decoded_pixels - photo.info.pixels)
    if not options.crop:  # refused before any work; a crop is checked once it is known
        check_fits(options.format, photo.info.width, photo.info.height)

    def finish(masked: Masked) -> Cutout:
        try:
            full = photo.full()
            with _the_backdrops():  # damage the check could not see, found decoding it
                behind = backdrop.full() if backdrop else None
            if not thumbnails:
                return Cutout(render(full, masked.mask, options, behind), masked, {})
            # The renditions are made while the result is: at 1 MP they were as long as
            # composing and encoding it. The result gets a thread of its own, not one of
            # the writer's pool, whose bands it waits for.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="result") as beside:
                result = beside.submit(render, full, masked.mask, options, behind)
                small = renditions.of_result(photo, masked.mask, options, backdrop, thumbnails)
                return Cutout(result.result(), masked, small)
        finally:  # the next turn may start while this request stores what it made
            photo.release()
            if backdrop is not None:
                backdrop.release()

    try:
        return engines.make(photo, finish, work, pay=pay.spend, mask=mask, model=model)
    except EngineError as exc:
        # A photo a remote engine could not read may be damaged where the check does not
        # look (inside a PNG's or a progressive JPEG's data): then it is the sender's 400.
        # A PNG decodes whole, so that is work, done in a turn priced as the photo alone;
        # with no turn free, the engine's failure is the answer, as it is at once when
        # the engine timed out, was down or out of quota (the photo played no part).
        if exc.kind == EngineError.kind:
            with suppress(Busy), engines.admission.admitted(Work(photo.info.pixels),
                                                            learn=False):
                decode(photo.data, reduce_by=8)
        raise


def mask_image(mask: Image.Image) -> EncodedImage:
    """The engine's mask as it is kept with the record: a greyscale PNG of its own size."""
    data = pngwriter.encode(np.asarray(mask.convert("L")))
    return EncodedImage(data, "image/png", mask.width, mask.height)


@contextmanager
def refusals(what: str) -> Iterator[None]:
    """Every expected failure inside as a `Rejected` with its sentence (`StorageUnavailable`
    passes: every route answers it the same way); anything else is logged."""
    try:
        yield
    except (Rejected, StorageUnavailable):
        raise
    except RecordNotFound:  # not there, or not the visitor's: the same answer
        raise not_found() from None
    except InvalidImage as exc:
        code = "invalid_background" if isinstance(exc, InvalidBackdrop) else "invalid_image"
        raise Rejected(code, exc.message, exc.kind) from exc
    except TooLargeForFormat as exc:
        said = TOO_MANY_PIXELS_FOR_FORMAT if exc.pixels else TOO_LARGE_FOR_FORMAT
        raise Rejected("invalid_options", said.format(
            format=FORMAT_LABELS[exc.file_format], limit=exc.limit, width=exc.width,
            height=exc.height, limit_mp=exc.limit / 1e6)) from exc
    except LimitReached as exc:
        raise Rejected("limit_reached", LIMIT_REACHED, "conflict") from exc
    except StaleRecord as exc:
        raise Rejected("conflict", CHANGED, "conflict") from exc
    except Busy as exc:
        raise busy(exc.retry_after) from exc
    except EngineError as exc:
        log.warning("Engine failed: %s", exc.message)
        raise Rejected("engine_failed", f"{ENGINE_FAILED}. {exc.message}", exc.kind,
                       exc.retry_after) from exc
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
