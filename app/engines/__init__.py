"""Background-removal engines and the choice between them."""

from __future__ import annotations

from app.config import Settings
from app.engines.base import (
    BackgroundRemover,
    Cutout,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    QuotaExceeded,
)

__all__ = ["BackgroundRemover", "Cutout", "EngineError", "EngineTimeout", "EngineUnavailable",
           "QuotaExceeded", "build_engine"]


def build_engine(settings: Settings) -> BackgroundRemover:
    """The engine `settings` ask for (`BG_ENGINE`, or RapidAPI when it has a key)."""
    if settings.engine == "rapidapi":
        from app.engines.rapidapi import RapidApiEngine

        return RapidApiEngine(
            key=settings.rapidapi_key,
            host=settings.rapidapi_host,
            url=settings.rapidapi_url,
            connect_timeout=settings.rapidapi_connect_timeout,
            read_timeout=settings.rapidapi_read_timeout,
        )
    from app.engines.local import LocalEngine

    return LocalEngine(settings.bg_model_path, threads=settings.onnx_threads)
