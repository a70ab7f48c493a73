"""What every engine promises: a mask for a checked photo, or one of these errors.

Engines only predict masks (an L image, white where the subject is, of any size); the
compositor (app/images/compose.py) makes every result from the photo and that mask.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from app.images.decoding import Photo


class MaskEngine(Protocol):
    name: str
    # True when the mask is made elsewhere (a web service): waiting for it costs no CPU here,
    # so it needs no work slot (app/engines/runner.py).
    remote: bool

    def mask(self, photo: Photo, model: str | None = None) -> Image.Image:
        """The subject's mask, or an `EngineError` (or `InvalidImage` for a damaged file).
        `model` names one of the local engine's models; other engines have their own."""


class EngineError(Exception):
    """No mask could be made. `message` completes "Failed to generate the image"; `kind`
    says what went wrong (failed, timeout, unavailable, quota)."""

    kind = "failed"
    message = "The background could not be removed from this image."
    reason = "could not process the image"  # completes "the <engine> engine ..."
    # The seconds to wait before trying again, for the kinds a client can wait out: their
    # answers (429, 503) promise a Retry-After.
    retry_after: int | None = None

    def __init__(self, message: str | None = None, retry_after: int | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message
        if retry_after:
            self.retry_after = retry_after


class EngineTimeout(EngineError):
    kind = "timeout"
    message = "The background-removal service did not answer in time. Please try again."
    reason = "did not answer in time"


class EngineUnavailable(EngineError):
    kind = "unavailable"
    message = "The background-removal service is unavailable. Please try again later."
    reason = "was unavailable"
    retry_after = 30


class QuotaExceeded(EngineError):
    kind = "quota"
    message = "The background-removal service's quota is used up. Please try again later."
    reason = "has used up its quota"
    retry_after = 60
