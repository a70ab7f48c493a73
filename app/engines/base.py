"""What every background-removal engine promises, and the errors it may raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.imaging import ImageInfo


@dataclass(frozen=True)
class Cutout:
    """An engine's result: an encoded image with a transparent background."""

    data: bytes
    content_type: str
    width: int
    height: int


class BackgroundRemover(Protocol):
    name: str

    def remove(self, data: bytes, info: ImageInfo) -> Cutout:
        """Return the cutout of the checked upload `data`, or raise an `EngineError`."""


class EngineError(Exception):
    """The engine could not make a cutout. `message` completes "Failed to generate the image"."""

    status = 502
    message = "The background could not be removed from this image."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message


class EngineTimeout(EngineError):
    status = 504
    message = "The background-removal service did not answer in time. Please try again."


class EngineUnavailable(EngineError):
    status = 503
    message = "The background-removal service is unavailable. Please try again later."


class QuotaExceeded(EngineError):
    status = 429
    message = "The background-removal service's quota is used up. Please try again later."
