"""Background-removal engines and the choice between them."""

from __future__ import annotations

import logging
from dataclasses import replace

from app.config import Settings
from app.engines.base import (
    BackgroundRemover,
    Cutout,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    QuotaExceeded,
)
from app.imaging import ImageInfo
from app.output import DEFAULT, OutputOptions

__all__ = ["BackgroundRemover", "Cutout", "EngineError", "EngineTimeout", "EngineUnavailable",
           "FallbackEngine", "QuotaExceeded", "build_engine"]
log = logging.getLogger(__name__)


class FallbackEngine:
    """The primary engine, and when it fails the fallback, saying so to the visitor."""

    def __init__(self, primary: BackgroundRemover, fallback: BackgroundRemover):
        self.primary, self.fallback = primary, fallback
        self.name = primary.name

    def remove(self, data: bytes, info: ImageInfo, options: OutputOptions = DEFAULT) -> Cutout:
        try:
            return self.primary.remove(data, info, options)
        except EngineError as exc:
            log.warning("Engine %s failed (%s: %s); the %s engine makes the cutout instead",
                        self.primary.name, type(exc).__name__, exc.message, self.fallback.name)
            cutout = self.fallback.remove(data, info, options)
            note = (f"Made by the {self.fallback.name} engine because the "
                    f"{self.primary.name} engine {exc.reason}.")
            return replace(cutout, note=note)


def build_engine(settings: Settings) -> BackgroundRemover:
    """The engine `settings` ask for (`BG_ENGINE`, or RapidAPI when it has a key), wrapped
    with the local fallback when `BG_ENGINE_FALLBACK=local`."""
    if settings.engine == "rapidapi":
        from app.engines.rapidapi import RapidApiEngine

        engine = RapidApiEngine(
            key=settings.rapidapi_key,
            host=settings.rapidapi_host,
            url=settings.rapidapi_url,
            connect_timeout=settings.rapidapi_connect_timeout,
            timeout=settings.rapidapi_timeout,
            concurrency=settings.engine_concurrency,
        )
        if settings.bg_engine_fallback == "local":
            return FallbackEngine(engine, _local(settings))
        return engine
    return _local(settings)


def _local(settings: Settings) -> BackgroundRemover:
    from app.engines.local import LocalEngine

    return LocalEngine(settings.bg_model_path, threads=settings.onnx_threads,
                       concurrency=settings.engine_concurrency)
