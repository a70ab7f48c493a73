"""The runner: how many photos are worked on at once, the fallback and its note, metrics."""

import threading

import pytest
from PIL import Image

from app.engines import Admission, EngineRunner, EngineTimeout
from app.images.decoding import Photo, probe
from tests.support import FakeEngine, photo


def a_photo():
    data = photo(size=(64, 48))
    return Photo(data, probe(data, 10**8))


def test_work_is_bounded_per_process():
    """With 4 uploads at once and room for 2, two wait until one finishes: counted at the
    moment they are inside, with events, not timing."""
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    runner = EngineRunner(engine, admission=Admission(slots=2, max_waiting=4, max_wait=60))
    inside, peak, lock = [0], [0], threading.Lock()
    two_in = threading.Event()

    def finish(masked):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            if inside[0] == 2:
                two_in.set()
        with lock:
            inside[0] -= 1
        return masked

    threads = [threading.Thread(target=runner.make, args=(a_photo(), finish))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    # All four asked; only two can be in the engine, blocked at the gate.
    while engine.calls < 2:
        threading.Event().wait(0.01)
    assert engine.calls == 2
    gate.set()
    for thread in threads:
        thread.join(10)
    assert engine.calls == 4 and peak[0] <= 2


class Remote(FakeEngine):
    name = "remote"
    remote = True


def test_a_remote_engine_is_asked_without_a_work_slot():
    """Waiting for a web service costs no CPU: it is asked while every slot is taken, and
    only composing the result waits for one."""
    engine = Remote()
    runner = EngineRunner(engine)
    asked, done = threading.Event(), []
    engine.gate = threading.Event()
    with runner.admission.turn(0):  # every slot taken by local work
        thread = threading.Thread(target=lambda: done.append(runner.make(a_photo(), str)))
        thread.start()
        engine.gate.set()
        while engine.calls == 0 and thread.is_alive():
            asked.wait(0.01)
        assert engine.calls == 1 and not done  # asked, but not finished without a slot
    thread.join(10)
    assert len(done) == 1


def test_the_fallback_makes_the_mask_and_says_why():
    runner = EngineRunner(Remote(error=EngineTimeout()), FakeEngine())
    result = runner.make(a_photo(), lambda masked: masked)
    assert result.engine == "fake"
    assert result.note == ("Made by the fake engine because the remote engine did not "
                           "answer in time.")
    assert isinstance(result.mask, Image.Image)


def test_without_a_fallback_the_failure_is_the_callers():
    runner = EngineRunner(Remote(error=EngineTimeout()))
    with pytest.raises(EngineTimeout):
        runner.make(a_photo(), lambda masked: masked)
