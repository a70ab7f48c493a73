"""The runner: how many photos are worked on at once, the fallback and its note, metrics."""

import threading

import pytest
from PIL import Image

from app.engines import Admission, Busy, EngineRunner, EngineTimeout, Masked, Work
from app.images.decoding import Photo, probe
from tests.support import FakeEngine, free, photo

FREE = free.spend


def a_photo():
    data = photo(size=(64, 48))
    return Photo(data, probe(data, 10**8))


SMALL = Work(64 * 48)


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

    threads = [threading.Thread(target=runner.make, args=(a_photo(), finish, SMALL, FREE))
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
    with runner.admission.admitted(Work(0)):  # every slot taken by local work
        thread = threading.Thread(
            target=lambda: done.append(runner.make(a_photo(), str, SMALL, FREE)))
        thread.start()
        engine.gate.set()
        while engine.calls == 0 and thread.is_alive():
            asked.wait(0.01)
        assert engine.calls == 1 and not done  # asked, but not finished without a slot
    thread.join(10)
    assert len(done) == 1


def test_a_remote_engine_meeting_a_full_line_is_refused_unpaid_and_unasked():
    """A line with no room answers busy before the remote engine is paid for or asked."""
    engine = Remote()
    runner = EngineRunner(engine, admission=Admission(slots=1, max_waiting=0, max_wait=60))
    paid = []
    # The one slot taken, and no room to wait.
    with runner.admission.admitted(Work(0)), pytest.raises(Busy):
        runner.make(a_photo(), str, SMALL, pay=paid.append)
    assert paid == [] and engine.calls == 0
    runner.make(a_photo(), str, SMALL, pay=paid.append)  # with room: paid once, asked once
    assert paid == [SMALL] and engine.calls == 1


def test_the_fallback_makes_the_mask_and_says_why():
    runner = EngineRunner(Remote(error=EngineTimeout()), FakeEngine())
    result = runner.make(a_photo(), lambda masked: masked, SMALL, FREE)
    assert result.engine == "fake"
    assert result.note == ("Made by the fake engine because the remote engine did not "
                           "answer in time.")
    assert isinstance(result.mask, Image.Image)


def test_without_a_fallback_the_failure_is_the_callers():
    runner = EngineRunner(Remote(error=EngineTimeout()))
    with pytest.raises(EngineTimeout):
        runner.make(a_photo(), lambda masked: masked, SMALL, FREE)


def test_the_work_is_paid_for_once_with_its_counts_before_the_engine_runs():
    engine = FakeEngine()
    paid = []

    def pay(work):
        paid.append((work.counts, engine.calls))

    EngineRunner(engine).make(a_photo(), str, Work(4000 * 3001, refine=True), pay=pay)
    assert paid == [(7, 0)]  # 24.006 MP of work, one count per started 4 MP
    assert engine.calls == 1


def test_a_refused_payment_runs_nothing():
    engine = FakeEngine()

    def pay(work):
        raise RuntimeError("over the limit")

    with pytest.raises(RuntimeError):
        EngineRunner(engine).make(a_photo(), str, SMALL, pay=pay)
    assert engine.calls == 0


def test_work_refused_as_busy_is_not_paid_for():
    """A full line answers busy before the rate limit is asked: waiting for a turn must not
    also use up the visitor's allowance."""
    gate = threading.Event()
    engine = FakeEngine(gate=gate)
    runner = EngineRunner(engine, admission=Admission(slots=1, max_waiting=0, max_wait=60))
    paid = []
    holder = threading.Thread(target=runner.make, args=(a_photo(), str, SMALL, FREE))
    holder.start()
    while engine.calls < 1:
        threading.Event().wait(0.01)
    with pytest.raises(Busy):
        runner.make(a_photo(), str, SMALL, pay=paid.append)
    gate.set()
    holder.join(10)
    assert paid == [] and engine.calls == 1


def test_a_failed_remote_engine_is_asked_once_then_the_fallback_once():
    """The remote engine is asked before the turn; once it has failed, the turn goes to the
    fallback at once, not to the remote engine again."""
    remote, local = Remote(error=EngineTimeout()), FakeEngine()
    result = EngineRunner(remote, local).make(a_photo(), lambda masked: masked, SMALL, FREE)
    assert (result.engine, remote.calls, local.calls) == ("fake", 1, 1)


def test_a_remote_engine_that_answers_is_asked_once_and_the_fallback_never():
    remote, local = Remote(), FakeEngine()
    result = EngineRunner(remote, local).make(a_photo(), lambda masked: masked, SMALL, FREE)
    assert (result.engine, result.note, remote.calls, local.calls) == ("remote", "", 1, 0)


def test_a_place_held_while_paying_turns_the_next_away_unpaid():
    """The work holds its place in line while it pays: one that comes meanwhile finds the
    line full and is refused busy before it pays anything (no window between the check
    and the payment)."""
    from app.engines.admission import Admission as Line

    line = Line(slots=1, max_waiting=1, max_wait=60)
    paying, go_on, paid = threading.Event(), threading.Event(), []

    def slow_pay(counts):
        paid.append("first")
        paying.set()
        assert go_on.wait(10)

    with line.admitted(Work(0), pay=paid.append):  # the slot taken
        first = threading.Thread(target=lambda: line.admitted(Work(0), pay=slow_pay).__enter__())
        first.start()
        assert paying.wait(10)
        with pytest.raises(Busy), line.admitted(Work(0), pay=paid.append):
            pass
        go_on.set()
    first.join(10)
    assert paid == [Work(0), "first"]


class Priced(FakeEngine):
    """A local engine whose models say what their inference costs, as LocalModels does."""

    def inference_megapixels(self, model=None):
        return {"u2netp": 7.0, "u2net": 18.0}[model or "u2netp"]


class PricedRemote(Priced):
    remote = True


@pytest.mark.parametrize("engine, model, kept, inference", [
    (Priced, None, False, 7.0), (Priced, "u2net", False, 18.0),
    (Priced, "u2net", True, 0.0),  # a new look: the kept mask, no model
    (PricedRemote, "u2net", False, 0.0)])  # a web service's inference is not this CPU's
def test_a_model_run_here_is_priced_in_the_line_and_never_in_the_counts(engine, model, kept,
                                                                        inference):
    paid = []
    kept_mask = Masked(Image.new("L", (8, 8)), "local") if kept else None
    EngineRunner(engine()).make(a_photo(), str, Work(4 * 10**6), pay=paid.append,
                                mask=kept_mask, model=model)
    assert [(work.inference, work.megapixels, work.counts) for work in paid] == [
        (inference, 2 + 4 + inference, 1)]


def test_a_local_fallback_after_a_remote_failure_is_priced_with_its_model(monkeypatch):
    """RapidAPI failed, so u2net makes the mask here, in the turn: the turn is priced with
    its inference (helper 92: it was not, and its time was learned as 4 MP's)."""
    runner = EngineRunner(Remote(error=EngineTimeout()), fallback=Priced())
    admitted, real = [], runner.admission.admitted
    monkeypatch.setattr(runner.admission, "admitted",
                        lambda work, **kwargs: admitted.append(work) or real(work, **kwargs))
    masked = runner.make(a_photo(), lambda masked: masked, Work(4 * 10**6), FREE,
                         model="u2net")
    assert masked.engine == "fake" and "remote engine" in masked.note
    assert [(work.inference, work.megapixels, work.counts) for work in admitted] == [
        (18.0, 24.0, 1)]
