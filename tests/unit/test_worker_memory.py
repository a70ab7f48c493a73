"""gunicorn.conf.py's memory hygiene and header limit: a worker is measured, trimmed and
judged only when idle (its threads serve other requests meanwhile, legitimately large), its
baseline goes down as well as up, and gunicorn alone does not buffer hundreds of MB of
headers. The hooks are called as gunicorn calls them, with the resident set made up."""

import logging
import os
import resource
import runpy
import subprocess
import sys
from types import SimpleNamespace

import pytest

from app import hosting
from tests.servers import ROOT

MIB = 1024 * 1024


@pytest.fixture
def conf(monkeypatch):
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    module = hooks["post_request"].__globals__  # the hooks' own globals, not run_path's copy
    state = SimpleNamespace(rss=0, trims=0, trimmed_to=None)

    def release_memory():
        state.trims += 1
        if state.trimmed_to is not None:
            state.rss = state.trimmed_to
        return True

    monkeypatch.setitem(module, "resident_bytes", lambda: state.rss)
    monkeypatch.setitem(module, "release_memory", release_memory)
    monkeypatch.setitem(module, "tune_allocator", lambda: True)
    worker = SimpleNamespace(alive=True, pid=1, log=logging.getLogger("test"))
    hooks["post_fork"](None, worker)
    return hooks, worker, state


def begin(hooks, worker):
    hooks["pre_request"](worker, SimpleNamespace())


def end(hooks, worker):
    hooks["post_request"](worker, SimpleNamespace(), {}, None)


def test_a_request_ending_while_others_run_neither_trims_nor_settles(conf):
    hooks, worker, state = conf
    state.rss = 150 * MIB
    begin(hooks, worker), end(hooks, worker)  # the first idle moment: the baseline
    assert (worker.settled_rss, state.trims) == (150 * MIB, 1)
    begin(hooks, worker), begin(hooks, worker)
    state.rss = 2000 * MIB  # the other request's large job, under way
    end(hooks, worker)
    assert (worker.settled_rss, state.trims, worker.alive) == (150 * MIB, 1, True)
    state.trimmed_to = 180 * MIB
    end(hooks, worker)  # now idle: trimmed and measured
    assert (worker.settled_rss, state.trims, worker.alive) == (180 * MIB, 2, True)


def test_the_baseline_goes_down_so_a_later_rise_is_trimmed(conf):
    hooks, worker, state = conf
    state.rss = 600 * MIB  # the first idle moment came after a large job, untrimmable
    begin(hooks, worker), end(hooks, worker)
    state.rss = 150 * MIB  # handed back since
    begin(hooks, worker), end(hooks, worker)
    assert worker.settled_rss == 150 * MIB
    state.rss, state.trimmed_to = 500 * MIB, 160 * MIB
    begin(hooks, worker), end(hooks, worker)
    assert (worker.settled_rss, state.trims) == (160 * MIB, 2)


def test_a_worker_holding_too_much_when_idle_is_replaced(conf):
    hooks, worker, state = conf
    state.rss = 1600 * MIB
    begin(hooks, worker), end(hooks, worker)
    assert worker.alive is False


def test_gunicorn_alone_buffers_headers_within_the_fronts_cap():
    """nginx passes at most 4 × 8000 bytes of headers (tests/system/test_front_limits.py
    sends 500 through it); gunicorn without it buffers at most fields × (8190 + 2) bytes."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert hooks["limit_request_fields"] == 1000
    assert hooks["limit_request_fields"] * (8190 + 2) + 4 < 9_000_000


# In a fresh interpreter, so that no earlier test's allocations shape malloc's state: after
# app.hosting.tune_allocator(), (1) the page faults while a 1 MP cutout's pixels (4.4 MB)
# are made and freed 20 times, (2) the resident set an 8 MP photo's pixels (24 MB) leave
# behind when freed, the second time they are made (glibc's own rule would keep them in
# the heap by then), and (3) malloc's heaps after eight threads allocate at once.
_ALLOCATIONS = """
import resource
import numpy as np
from app.hosting import resident_bytes, tune_allocator
assert tune_allocator()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(4_400_000, np.uint8)
before = faults()
for _ in range(20):
    np.ones(4_400_000, np.uint8)
reused = faults() - before
start = resident_bytes()
for _ in range(2):
    np.ones(24_000_000, np.uint8)
kept = resident_bytes() - start
# (3) the heaps eight threads allocating at once leave: malloc_stats() names each on stderr.
import ctypes, threading
go = threading.Barrier(8)
def work():
    go.wait()
    for _ in range(300):
        np.ones(200_000, np.uint8)
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL("libc.so.6").malloc_stats()
print(reused, kept)
"""


@pytest.mark.skipif(hosting._glibc() is None, reason="tunes glibc's malloc only")
def test_the_workers_malloc_reuses_buffers_gives_large_ones_back_and_keeps_two_heaps():
    done = subprocess.run([sys.executable, "-c", _ALLOCATIONS], cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True)
    reused, kept = (int(value) for value in done.stdout.split())
    # Each thread that met another in malloc got a heap of its own: nine here, untuned.
    assert done.stderr.count("Arena ") == hosting.ARENAS
    # Handed back at each free and faulted in again, it was 20 cutouts' pages.
    assert reused < 4_400_000 // resource.getpagesize()
    assert kept < 4 * MIB
