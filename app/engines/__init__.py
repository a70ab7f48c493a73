"""Background-removal engines (they make masks) and the runner that uses them."""

from __future__ import annotations

import logging

from app import model_files
from app.engines.admission import Admission, Busy, Work
from app.engines.base import (
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    MaskEngine,
    QuotaExceeded,
)
from app.engines.runner import EngineRunner, Masked
from app.hosting import ConfigError, available_cpus
from app.settings import Settings

log = logging.getLogger(__name__)
__all__ = ["Admission", "Busy", "EngineError", "EngineRunner", "EngineTimeout",
           "EngineUnavailable", "MaskEngine", "Masked", "QuotaExceeded", "Work", "build_runner"]


def build_runner(settings: Settings) -> EngineRunner:
    """The engine `settings` ask for (`BG_ENGINE`, or RapidAPI when it has a key), with the
    local engine as its fallback when `BG_ENGINE_FALLBACK=local`."""
    slots = settings.engine_concurrency or available_cpus()
    admission = Admission(slots=slots,
                          max_waiting=settings.upload_queue,
                          max_wait=settings.upload_queue_seconds,
                          pixels_at_once=settings.max_image_pixels)
    if settings.engine == "rapidapi":
        from app.engines.rapidapi import RapidApiEngine

        primary = RapidApiEngine(
            key=settings.rapidapi_key,
            host=settings.rapidapi_host,
            url=settings.rapidapi_url,
            connect_timeout=settings.rapidapi_connect_timeout,
            timeout=settings.rapidapi_timeout,
        )
        fallback = _local(settings, slots) if settings.fallback == "local" else None
        return EngineRunner(primary, fallback, admission)
    return EngineRunner(_local(settings, slots), None, admission)


def _local(settings: Settings, slots: int) -> MaskEngine:
    """The models in BG_MODELS_DIR, their files checked whole once, at start-up: a damaged
    default stops the app with the command that fixes it; a damaged other is not offered.
    `slots` photos may be in the model at once."""
    from app.engines.local import LocalModels

    installed = []
    for name in model_files.MODELS:
        if model_files.check(settings.bg_models_dir, name, checksums=False):
            continue  # not there, or not whole: not offered (Settings checked the default's)
        problem = model_files.check(settings.bg_models_dir, name)
        if problem is None:
            installed.append(name)
            if settings.bg_runtime == "openvino" and not model_files.ir_graph(
                    settings.bg_models_dir, model_files.MODELS[name]):
                log.warning("The %s model has no IR in %s, so OpenVINO copies its weights into "
                            "each worker (168 MiB with u2net): `%s` writes it.", name,
                            settings.bg_models_dir,
                            model_files.fetch_command(settings.bg_models_dir, [name]))
        elif name == settings.bg_model:
            raise ConfigError(problem)
        else:
            log.warning("%s", problem)
    return LocalModels(settings.bg_models_dir, settings.bg_model, tuple(installed),
                       runtime=settings.bg_runtime, threads=settings.onnx_threads,
                       streams=slots)
