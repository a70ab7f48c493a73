"""The one place that runs engines: when a photo is worked on (admission.py), how long each
engine takes (metrics), and the fallback engine with the note that tells the visitor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from PIL import Image

from app.engines.admission import Admission, Work
from app.engines.base import EngineError, MaskEngine
from app.images.decoding import Photo
from app.metrics import ENGINE_SECONDS, ENGINE_USED

log = logging.getLogger(__name__)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Masked:
    mask: Image.Image
    engine: str  # the engine that made it
    note: str = ""  # why a fallback engine made it instead, for the visitor
    model: str | None = None  # the local engine's model that made it


class EngineRunner:
    def __init__(self, primary: MaskEngine, fallback: MaskEngine | None = None,
                 admission: Admission | None = None):
        self.primary, self.fallback = primary, fallback
        # The app passes the line its settings make (engines.build); a runner made alone
        # (the benches, tests) gets one of its own that lets one job work at a time.
        self.admission = admission or Admission(slots=1, max_waiting=8, max_wait=60)

    @property
    def name(self) -> str:
        return self.primary.name

    def make(self, photo: Photo, finish: Callable[[Masked], Result], work: Work,
             pay: Callable[[Work], None], mask: Masked | None = None,
             model: str | None = None) -> Result:
        """Mask `photo` (unless its `mask` was kept) and `finish` the result from the mask,
        in a turn of the admission for `work`, paid for with `pay` once
        it holds its place in line: a line already too long refuses it `Busy` unpaid. A
        remote engine is asked before the turn (waiting for it costs no CPU), so then the
        work is paid for first, and the turn may still be refused after a slow answer."""
        masked, failure = mask, None
        if masked is None and self.primary.remote:
            self.admission.check(work)
            pay(work)
            pay = None
            masked, failure = self._attempt(self.primary, photo, model)
            if failure is not None:  # the fallback's model runs here, in the turn
                work = replace(work, inference=_inference(self.fallback, model))
        elif masked is None:
            work = replace(work, inference=_inference(self.primary, model))
        with self.admission.admitted(work, pay=pay):
            if masked is None and failure is None:
                masked, failure = self._attempt(self.primary, photo, model)
            if masked is None:
                masked = self._fall_back(photo, failure, model)
            return finish(masked)

    def _attempt(self, engine: MaskEngine, photo: Photo, model: str | None):
        try:
            return self._timed(engine, photo, model), None
        except EngineError as exc:
            if self.fallback is None:
                raise
            return None, exc

    def _fall_back(self, photo: Photo, failure: EngineError, model: str | None) -> Masked:
        log.warning("Engine %s failed (%s: %s); the %s engine makes the mask instead",
                    self.primary.name, type(failure).__name__, failure.message,
                    self.fallback.name)
        note = (f"Made by the {self.fallback.name} engine because the {self.primary.name} "
                f"engine {failure.reason}.")
        masked = self._timed(self.fallback, photo, model)
        return Masked(masked.mask, masked.engine, note, masked.model)

    def models(self) -> tuple[str, ...]:
        """The local engine's models that can be used here (none without a local engine)."""
        engines = (self.primary, self.fallback)
        return next((e.installed for e in engines if hasattr(e, "installed")), ())

    @staticmethod
    def _timed(engine: MaskEngine, photo: Photo, model: str | None) -> Masked:
        started = time.perf_counter()
        mask = engine.mask(photo, model)
        ENGINE_SECONDS.labels(engine.name).observe(time.perf_counter() - started)
        ENGINE_USED.labels(engine.name).inc()
        chosen = (model or engine.default) if hasattr(engine, "default") else None
        return Masked(mask, engine.name, model=chosen)


def _inference(engine: MaskEngine, model: str | None) -> float:
    """Megapixels' worth of `model`'s one inference on a local `engine` (one that does not
    say, such as a test's, costs none)."""
    priced = getattr(engine, "inference_megapixels", None)
    return priced(model) if priced else 0.0
