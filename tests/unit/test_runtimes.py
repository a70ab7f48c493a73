"""The two runtimes (BG_RUNTIME): the same masks from the same file, the setting reaches
the engine, and OpenVINO keeps an inference request per photo at once, no more, and its
intermediate tensors between photos except around a large job."""

import gc
import io
import os
import threading
import time
import weakref

import numpy as np
import pytest
from PIL import Image

from app import create_app
from app.engines import Admission, Work, runtimes
from app.engines.local import LocalEngine
from app.hosting import ConfigError
from tests.support import model_path, photo, photo_array

CORES = len(os.sched_getaffinity(0))  # OpenVINO runs no more threads than there are


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "rocket"])
def test_both_runtimes_make_the_same_mask_within_one_level(name):
    img = Image.fromarray(photo_array(name))
    masks = [np.asarray(LocalEngine(model_path(), runtime).predict(img)).astype(int)
             for runtime in runtimes.RUNTIMES]
    difference = np.abs(masks[0] - masks[1])
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.001  # float32 both: rounding, not another mask
    assert masks[0].min() == 0 and masks[0].max() == 255  # a real mask, stretched


def test_openvino_is_the_default_and_onnxruntime_can_be_chosen(settings):
    assert settings.bg_runtime == "openvino"
    chosen = settings.changed(bg_runtime="ONNXRuntime")
    assert chosen.bg_runtime == "onnxruntime"
    app = create_app(chosen)
    engine = app.extensions["services"].engines.primary.engine()
    assert type(engine.model) is runtimes.OnnxRuntimeModel
    app = create_app(settings)
    assert type(app.extensions["services"].engines.primary.engine().model) is \
        runtimes.OpenVinoModel


def test_an_unknown_runtime_is_refused_with_the_choices(settings):
    with pytest.raises(ConfigError, match="BG_RUNTIME must be one of openvino or onnxruntime, "
                                          "not 'tensorflow'"):
        settings.changed(bg_runtime="tensorflow")


def test_the_engine_runs_as_many_photos_at_once_as_the_process_has_slots(settings):
    app = create_app(settings.changed(engine_concurrency=2, onnx_threads=1))
    model = app.extensions["services"].engines.primary.engine().model
    assert model.compiled.get_property("NUM_STREAMS") == min(2, CORES)
    assert model.compiled.get_property("INFERENCE_NUM_THREADS") == min(2, CORES)


@pytest.mark.parametrize("threads, streams, expected", [(1, 2, (2, 2)), (1, 1, (1, 1)),
                                                        (0, 2, (1, CORES))])
def test_openvino_streams_threads_precision_and_no_pinning(threads, streams, expected):
    model = runtimes.OpenVinoModel(model_path(), threads, streams)
    get = model.compiled.get_property
    assert get("NUM_STREAMS") == min(expected[0], CORES)
    if threads:
        assert get("INFERENCE_NUM_THREADS") == min(expected[1], CORES)
    else:  # OpenVINO's own choice: its count of physical cores, on a hyper-threaded CPU
        assert 1 <= get("INFERENCE_NUM_THREADS") <= CORES
    assert str(get("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert get("ENABLE_CPU_PINNING") is False
    assert model.input_size == (320, 320)


def test_openvino_infers_once_as_it_loads_and_gives_that_back(monkeypatch):
    """OpenVINO's Python binding sets itself up on the first inference of the process; two
    threads doing that at once hung both for good (a test run's two batch threads, each in
    __cxa_guard_acquire). So a model infers once while it loads, under load()'s lock,
    before any photo can reach it, and gives that inference's tensors back."""
    import openvino as ov

    log = []

    class Recording:
        def __init__(self, compiled):
            self.compiled = compiled

        def __getattr__(self, name):
            return getattr(self.compiled, name)

        def create_infer_request(self):
            log.append("request")
            request = self.compiled.create_infer_request()

            class Request:
                def infer(self, inputs):
                    (batch,) = inputs.values()
                    log.append(("infer", batch.shape, batch.dtype.name, float(abs(batch).max())))
                    return request.infer(inputs)

            return Request()

        def release_memory(self):
            log.append("release")
            self.compiled.release_memory()

    compile_model = ov.Core.compile_model
    monkeypatch.setattr(ov.Core, "compile_model",
                        lambda core, *args, **kwargs: Recording(compile_model(core, *args,
                                                                              **kwargs)))
    model = runtimes.OpenVinoModel(model_path(), 1, 1)
    assert log == ["request", ("infer", (1, 3, 320, 320), "float32", 0.0), "release"]
    feed = np.random.default_rng(2).random((1, 3, 320, 320), dtype=np.float32)
    assert model.infer(feed).shape == (1, 1, 320, 320)
    assert log[3:5] == ["request", ("infer", (1, 3, 320, 320), "float32", float(feed.max()))]


class Counting:
    """The compiled model, counting the inference requests made of it and its tensors given
    back; while `together` is set, a request runs only once as many are running as the
    barrier waits for, and while `hold` is, a photo leaves the model only once it is set."""

    def __init__(self, compiled):
        self.compiled, self.made, self.together, self.released = compiled, 0, None, 0
        self.hold = self.during = self.fail = None

    def create_infer_request(self):
        self.made += 1
        return Meeting(self.compiled.create_infer_request(), self)

    def release_memory(self):
        if self.fail:
            failure, self.fail = self.fail, None
            raise failure
        self.released += 1
        self.compiled.release_memory()


class Meeting:
    def __init__(self, request, owner):
        self.request, self.owner = request, owner

    def infer(self, inputs):
        if self.owner.together:
            self.owner.together.wait(timeout=60)
        answer = self.request.infer(inputs)
        if self.owner.during:
            self.owner.during()
        if self.owner.hold:
            self.owner.hold.wait(timeout=60)
        return answer


def test_openvino_reuses_a_request_and_makes_one_per_photo_at_once():
    model = runtimes.OpenVinoModel(model_path(), 1, 2)
    model.compiled = counting = Counting(model.compiled)
    feed = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    first = model.infer(feed)
    kept = first.copy()
    assert np.array_equal(model.infer(feed), first) and counting.made == 1
    # Two photos at once, each held until the other runs: the second cannot have the
    # first's request, and gets its own.
    answers = together(model, feed, counting)
    assert len(answers) == 2 and all(np.array_equal(a, first) for a in answers)
    assert counting.made == 2 and model._idle.qsize() == 2
    # Each answer is a copy: later photos on both requests (the idle queue hands them out
    # in turn) leave an earlier photo's mask as it was.
    others = [model.infer(np.zeros_like(feed)) for _ in range(2)]
    assert not np.array_equal(others[0], kept) and np.array_equal(others[0], others[1])
    assert np.array_equal(first, kept)
    assert np.array_equal(model.infer(feed), kept) and counting.made == 2
    assert counting.released == 0  # no large job came: the tensors stayed for the next


def together(model, feed, counting, meanwhile=lambda: None, photos=2):
    """`photos` in the model at once (each waits until all run), and `meanwhile` done
    while they are all in it; their answers."""
    counting.together, counting.hold = threading.Barrier(photos + 1), threading.Event()
    answers = []
    workers = [threading.Thread(target=lambda: answers.append(model.infer(feed)))
               for _ in range(photos)]
    for worker in workers:
        worker.start()
    counting.together.wait(timeout=60)
    try:
        meanwhile()
    finally:
        counting.hold.set()
        for worker in workers:
            worker.join(timeout=60)
    counting.together = counting.hold = None
    return answers


def test_openvino_keeps_its_tensors_between_photos_until_a_large_job_comes():
    model = runtimes.OpenVinoModel(model_path(), 1, 2)
    model.compiled = counting = Counting(model.compiled)
    feed = np.random.default_rng(1).random((1, 3, 320, 320), dtype=np.float32)
    with runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO):  # as large as a job keeps them for
        model.infer(feed)
        model.infer(feed)
    assert counting.released == 0
    with runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO + 1):
        assert counting.released == 1  # given back before the large job's work starts
        model.infer(feed)
        assert counting.released == 2  # and after each photo while it is in work
    model.infer(feed)
    assert counting.released == 2  # the large job done: kept again
    # Two large jobs at once: the first to finish leaves the other still in work.
    with runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO + 1):
        with runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO + 1):
            pass
        assert counting.released == 4  # as each began
        model.infer(feed)
        assert counting.released == 5


def test_a_photo_in_another_model_has_the_one_used_before_give_its_tensors_back():
    first, second = (runtimes.OpenVinoModel(model_path(), 1, 2) for _ in range(2))
    first.compiled, second.compiled = Counting(first.compiled), Counting(second.compiled)
    feed = np.random.default_rng(3).random((1, 3, 320, 320), dtype=np.float32)
    first.infer(feed)
    first.infer(feed)
    assert (first.compiled.released, second.compiled.released) == (0, 0)
    # Given back as the photo enters the other model, not once it has left: the two
    # models' tensors are never mapped together.
    inside = []
    second.compiled.during = lambda: inside.append(first.compiled.released)
    second.infer(feed)
    second.compiled.during = None
    assert inside == [1] and (first.compiled.released, second.compiled.released) == (1, 0)
    second.infer(feed)
    first.infer(feed)
    assert (first.compiled.released, second.compiled.released) == (1, 1)
    # A photo still in the model used before: its tensors go when it leaves, not sooner.
    def meanwhile():
        second.infer(feed)
        assert first.compiled.released == 1

    together(first, feed, first.compiled, meanwhile, photos=1)
    assert (first.compiled.released, second.compiled.released) == (2, 1)


def test_a_model_that_fails_to_give_its_tensors_back_fails_no_photo_of_another(caplog):
    first, second = (runtimes.OpenVinoModel(model_path(), 1, 1) for _ in range(2))
    first.compiled, second.compiled = Counting(first.compiled), Counting(second.compiled)
    feed = np.random.default_rng(4).random((1, 3, 320, 320), dtype=np.float32)
    first.infer(feed)
    first.compiled.fail = RuntimeError("cannot release")
    assert second.infer(feed).shape == (1, 1, 320, 320)
    assert "Giving back another model's tensors failed" in caplog.text
    assert second._running == 0  # this photo left: its own model still gives back
    with runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO + 1):
        assert second.compiled.released == 1


def test_the_module_holds_no_model_alive_once_no_one_uses_it():
    model = runtimes.OpenVinoModel(model_path(), 1, 1)
    model.infer(np.zeros((1, 3, 320, 320), np.float32))  # the model a photo entered last
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None


def test_a_large_job_arriving_while_photos_are_in_the_model_waits_for_the_last_to_leave():
    model = runtimes.OpenVinoModel(model_path(), 1, 2)
    model.compiled = counting = Counting(model.compiled)
    feed = np.random.default_rng(2).random((1, 3, 320, 320), dtype=np.float32)
    large = runtimes.room_for(runtimes.KEEP_TENSORS_UP_TO + 1)

    def arrive():  # both photos are in the model: nothing can be given back yet
        large.__enter__()
        assert counting.released == 0

    try:
        together(model, feed, counting, meanwhile=arrive)
        assert counting.released == 1  # by the second photo to leave, not the first
    finally:
        large.__exit__(None, None, None)
    model.infer(feed)
    assert counting.released == 1


def test_uploads_and_edits_over_the_size_give_the_tensors_back_and_those_at_it_keep_them(
        app, visitor, monkeypatch):
    """The photo's and the background's pixels together, at every way into the model."""
    monkeypatch.setattr(runtimes, "KEEP_TENSORS_UP_TO", 2 * 300 * 200)
    small = photo("chelsea", size=(300, 200))
    visitor.upload(small)  # the model loaded
    model = app.extensions["services"].engines.primary.engine().model
    monkeypatch.setattr(model, "compiled", Counting(model.compiled))

    def upload(backdrop_size):
        for record_id in visitor.record_ids():  # room in the gallery, which holds two
            visitor.delete(record_id)
        response = visitor.upload(small, output="image", background_image=(
            io.BytesIO(photo("coffee", size=backdrop_size)), "behind.jpg"))
        flashes = visitor.flashes()
        assert response.status_code == 302 and flashes[0][0] == "success", flashes
        return visitor.record_ids()[0]

    def edit(record_id, **options):
        response = visitor.client.post(f"/edit/{record_id}", data={
            **options, "csrf_token": visitor.token}, content_type="multipart/form-data")
        assert response.status_code == 302 and visitor.flashes()[0][0] == "success"

    upload((300, 200))
    assert model.compiled.released == 0
    record_id = upload((301, 200))
    assert model.compiled.released == 2  # before the job, and when its photo left the model
    edit(record_id, output="blur")  # the photo alone: 60,000 pixels
    assert model.compiled.released == 2
    monkeypatch.setattr(runtimes, "KEEP_TENSORS_UP_TO", 300 * 200 - 1)
    edit(record_id, output="color", background="#ff0000")
    assert model.compiled.released == 3  # the kept mask: no photo in the model, given back once


def test_a_large_job_waiting_in_line_leaves_the_tensors_until_its_turn_comes():
    model = runtimes.OpenVinoModel(model_path(), 1, 1)
    model.compiled = counting = Counting(model.compiled)
    model.infer(np.zeros((1, 3, 320, 320), np.float32))
    line = Admission(slots=1, max_waiting=2, max_wait=60)
    working, done, seen = threading.Event(), threading.Event(), []

    def small_job():
        with line.admitted(Work(300 * 200)):
            working.set()
            done.wait(timeout=60)

    def large_job():
        with line.admitted(Work(runtimes.KEEP_TENSORS_UP_TO + 1)):
            seen.append(counting.released)

    first = threading.Thread(target=small_job)
    first.start()
    working.wait(timeout=60)
    second = threading.Thread(target=large_job)
    second.start()
    try:
        deadline = time.monotonic() + 60
        while not line._line and time.monotonic() < deadline:  # the large job is in line
            time.sleep(0.01)
        assert line._line and counting.released == 0
    finally:
        done.set()
        first.join(timeout=60)
        second.join(timeout=60)
    assert seen == [1]  # given back once its turn came, before its work
