"""What runs a model file: OpenVINO (the default) or onnxruntime, behind one call.

Both read the same checksummed model (OpenVINO its IR, which `make models` writes from the
ONNX file and whose weights it maps instead of copying: model_files.model_file) and compute
in float32, so their masks agree to within one level of 255 (tests/unit/test_runtimes.py).
OpenVINO's CPU kernels run U²-Net 1.2-1.9× faster here (u2netp 1.5-1.9×), and two photos
at once peak a third lower (`python -m bench.runtimes`, docs/performance.md); onnxruntime
stays for a machine where OpenVINO cannot run.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from app.model_files import RUNTIMES

log = logging.getLogger(__name__)

# Some exports leave the spatial size symbolic; U²-Net models are trained at 320.
_TRAINED_SIZE = 320
# The model a photo entered last keeps OpenVINO's intermediate tensors (about 115 MB for
# each photo it can run at once) between photos: mapping them again cost a 1 MP upload
# 30-45 ms. The other models give theirs back (every model keeping them, on each stream,
# took an idle worker to 1 GB), and so does every model around a job of more than this
# many pixels (photo and background: a phone photo over another), whose compositing
# needs the room. A job of exactly this size, refined, stays within the memory budget
# (docs/scaling.md, tests/system/test_memory.py).
KEEP_TENSORS_UP_TO = 24_000_000
_opened: weakref.WeakSet[OpenVinoModel] = weakref.WeakSet()  # this process's, while in use
_latest: weakref.ref[OpenVinoModel] | None = None  # to the model a photo entered last
_large_jobs = 0  # in their turn now: while there is one, no model keeps tensors between photos
# Guards the three. A photo leaving a model reads `_latest` and `_large_jobs` under that
# model's lock alone: whoever changes them does so first, then takes the lock to give the
# tensors back (`give_back`), so either the leaving photo sees the change or the give-back
# comes after it.
_jobs_lock = threading.Lock()


@contextmanager
def room_for(pixels: int) -> Iterator[None]:
    """Inside the block, work on a job of `pixels` (its turn has come: admission.py): a
    large one has every model give its intermediate tensors back first (a model with a
    photo in it, when that photo leaves), and keep none between photos until it is done."""
    global _large_jobs
    if pixels <= KEEP_TENSORS_UP_TO:
        yield
        return
    with _jobs_lock:
        _large_jobs += 1
        models = list(_opened)
    try:
        for model in models:
            model.give_back()
        yield
    finally:
        with _jobs_lock:
            _large_jobs -= 1


class OpenVinoModel:
    """A model compiled once for the CPU, with an inference request per photo in work
    (never more than ran at once). Its intermediate tensors stay mapped between photos
    while it is the model a photo entered last and no large job is in work (`room_for`);
    otherwise they are given back as soon as no photo is in the model, as onnxruntime
    without its arena does after every photo."""

    def __init__(self, path: str, threads: int, streams: int):
        import openvino as ov

        config = {
            # This CPU would pick bfloat16 by itself: 1.8-2× faster, but masks lose IoU
            # down to 0.95 (u2netp) and 0.88 (u2net): bench/bfloat16.py, docs/models.md.
            "INFERENCE_PRECISION_HINT": "f32",
            # Pinning binds each process's threads to the first cores: gunicorn's workers
            # would then all share those and leave the others idle.
            "ENABLE_CPU_PINNING": False,
            # `streams` photos at once, each on `threads` threads (0: all cores, one photo
            # at a time, as onnxruntime's default would run them).
            "NUM_STREAMS": streams if threads else 1,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads * streams
        core = ov.Core()
        model = core.read_model(path)
        if model.inputs[0].get_partial_shape().is_dynamic:
            model.reshape([1, 3, _TRAINED_SIZE, _TRAINED_SIZE])
        self.compiled = core.compile_model(model, "CPU", config)
        height, width = self.compiled.inputs[0].get_partial_shape().to_shape()[2:4]
        self.input_size = (width, height)
        # One photo's worth of work before any thread can ask (load() holds its lock):
        # OpenVINO's Python binding sets itself up on the first inference of the process,
        # and two threads doing that at once hung both for good (seen with two batch
        # threads: each waiting in __cxa_guard_acquire under InferRequest.infer).
        self.compiled.create_infer_request().infer({0: np.zeros((1, 3, height, width),
                                                                np.float32)})
        self.compiled.release_memory()
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = 0
        self._ref = weakref.ref(self)  # what `_latest` holds, made once
        with _jobs_lock:
            _opened.add(self)

    def give_back(self) -> None:
        """The intermediate tensors unmapped now, unless a photo is in the model: then the
        last to leave does it, since whoever calls this has first made this model one that
        keeps none (another model entered last, or a large job is in work)."""
        with self._lock:
            if not self._running:
                self.compiled.release_memory()

    def _keeps_tensors(self) -> bool:
        return not _large_jobs and _latest is not None and _latest() is self

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The first output (U²-Net's fused mask) for one (1, 3, H, W) float32 batch."""
        global _latest
        with self._lock:
            self._running += 1
        try:
            with _jobs_lock:
                before, _latest = _latest and _latest(), self._ref
            if before is not None and before is not self:
                try:
                    before.give_back()
                except Exception:  # the other model's failure: not this photo's
                    log.exception("Giving back another model's tensors failed")
            try:
                request = self._idle.get_nowait()
            except queue.Empty:
                request = self.compiled.create_infer_request()
            try:
                return request.infer({0: batch})[0]  # a copy: the request may serve another
            finally:
                self._idle.put(request)
        finally:
            with self._lock:  # a photo starting meanwhile waits the few ms this takes
                self._running -= 1
                if not self._running and not self._keeps_tensors():
                    self.compiled.release_memory()


class OnnxRuntimeModel:
    def __init__(self, path: str, threads: int, streams: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # onnxruntime's arena keeps the peak of every run (about 270 MB for U²-Net-p at
        # 320×320) for the life of the process; without it the memory returns after each run,
        # at no measurable cost in speed (bench/engine.py --memory).
        options.enable_cpu_mem_arena = False
        # One session serves every thread of the worker: onnxruntime's run() is thread-safe.
        self.session = ort.InferenceSession(path, sess_options=options,
                                            providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self._input_name = model_input.name
        height, width = model_input.shape[2:4]
        self.input_size = (width if isinstance(width, int) else _TRAINED_SIZE,
                           height if isinstance(height, int) else _TRAINED_SIZE)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input_name: batch})[0]


_RUNTIME_CLASSES = {"openvino": OpenVinoModel, "onnxruntime": OnnxRuntimeModel}
_load_lock = threading.Lock()


@lru_cache(maxsize=8)
def _loaded(path: str, runtime: str, threads: int, streams: int):
    return _RUNTIME_CLASSES[runtime](path, threads, streams)


def load(path: str, runtime: str = RUNTIMES[0], threads: int = 0, streams: int = 1):
    """The process's one loaded model for this file and runtime (loading takes a moment,
    so once): `threads` per photo (0: the runtime's default, all cores), `streams` photos
    at once."""
    with _load_lock:
        return _loaded(path, runtime, threads, streams)
