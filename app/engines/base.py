"""What every background-removal engine promises, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

from app.imaging import ImageInfo
from app.output import DEFAULT, Cutout, OutputOptions

__all__ = ["BackgroundRemover", "Cutout", "EngineError", "EngineTimeout", "EngineUnavailable",
           "QuotaExceeded"]


class BackgroundRemover(Protocol):
    name: str

    def remove(self, data: bytes, info: ImageInfo, options: OutputOptions = DEFAULT) -> Cutout:
        """The cutout of the checked upload `data` as `options` ask, or an `EngineError`."""


class EngineError(Exception):
    """The engine could not make a cutout. `message` completes "Failed to generate the image"."""

    status = 502
    message = "The background could not be removed from this image."
    reason = "could not process the image"  # completes "the <engine> engine ..."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message


class EngineTimeout(EngineError):
    status = 504
    message = "The background-removal service did not answer in time. Please try again."
    reason = "did not answer in time"


class EngineUnavailable(EngineError):
    status = 503
    message = "The background-removal service is unavailable. Please try again later."
    reason = "was unavailable"


class QuotaExceeded(EngineError):
    status = 429
    message = "The background-removal service's quota is used up. Please try again later."
    reason = "has used up its quota"
