"""A server's worker makes one result before its first request (gunicorn.conf.py's
post_worker_init, checked through gunicorn in tests/system/test_server.py): the model is
loaded and first run outside the line, and the line learns this machine's speed from one
upload's work."""

import logging
import runpy
from types import SimpleNamespace

import pytest

from app.core import results
from app.engines import EngineRunner, Work
from app.engines import admission as line
from tests.servers import ROOT
from tests.support import FakeEngine

PIXELS = 1152 * 864  # the made-up photo's


class Ticks:
    """The line's clock: these readings, then none (a further reading fails the test)."""

    def __init__(self, *readings: float):
        self.readings = list(readings)

    def monotonic(self) -> float:
        return self.readings.pop(0)


class Watched:
    """The real engine, noting for each mask whether the line's turn was held."""

    def __init__(self, engine, runner_of):
        self.engine, self.runner_of, self.in_turn = engine, runner_of, []
        self.name, self.remote = engine.name, False

    def mask(self, photo, model=None):
        gate = self.runner_of().admission
        self.in_turn.append(gate._free < gate.slots)
        return self.engine.mask(photo, model)


def test_the_warm_up_runs_the_model_then_makes_one_result_the_line_learns_from(
        engine, monkeypatch):
    watched = Watched(engine, lambda: runner)
    runner = EngineRunner(watched)
    monkeypatch.setattr(line, "time", Ticks(100.0, 103.0))  # its turn took 3 s
    results.warm_up(runner)
    assert watched.in_turn == [False, True]  # loaded and run outside the line, then a job
    # One turn, priced as a 1 MP upload without refined edges, whose 3 s replace the guess.
    assert runner.admission._seconds_per_mp == pytest.approx(3.0 / Work(PIXELS).megapixels)
    assert runner.admission._free == runner.admission.slots


def test_a_remote_engine_is_sent_nothing():
    class Remote(FakeEngine):
        name, remote = "remote", True

    remote = Remote()
    runner = EngineRunner(remote, FakeEngine())
    results.warm_up(runner)
    assert remote.calls == 0 and runner.fallback.calls == 0
    assert runner.admission._seconds_per_mp == line._FIRST_GUESS


def test_gunicorns_hook_warms_up_the_apps_engines_and_a_failure_only_logs(monkeypatch, caplog):
    """post_worker_init as gunicorn calls it: the worker's app's engines are warmed up; if
    that fails the worker still serves, and the log says why."""
    hook = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]
    engines = object()
    warmed = []
    monkeypatch.setattr(results, "warm_up", warmed.append)
    app = SimpleNamespace(extensions={"services": SimpleNamespace(engines=engines)})
    worker = SimpleNamespace(wsgi=app, log=logging.getLogger("gunicorn.error"))
    hook(worker)
    assert warmed == [engines]

    def fails(engines):
        raise RuntimeError("no model")

    monkeypatch.setattr(results, "warm_up", fails)
    with caplog.at_level(logging.ERROR, logger="gunicorn.error"):
        hook(worker)  # nothing raised
    assert [(r.getMessage(), str(r.exc_info[1])) for r in caplog.records] == [
        ("The warm-up failed; the worker serves without it.", "no model")]
