"""gunicorn settings for the container (read automatically from the working directory).

Every value can be changed by environment variable without rebuilding the image.
"""

import contextlib
import os
import sys
import threading
import time

# This folder holds the app package; app.hosting imports only the standard library, so the
# master loads nothing the workers need (they load the app after the fork).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from app.hosting import (
    ConfigError,
    available_cpus,
    release_memory,
    resident_bytes,
    server_setting,
    tune_allocator,
)

try:
    bind = f"0.0.0.0:{server_setting('PORT')}"
    # The embedded demo store lives inside one process: with several workers each would have
    # its own data and a visitor's gallery would depend on which worker answered.
    workers = server_setting("WEB_CONCURRENCY") if os.environ.get("MONGO_URI") else 1
    # Threads serve requests; the engine lets only ENGINE_CONCURRENCY cutouts be made at once
    # per worker, so page views and downloads get a thread while uploads wait for a core.
    threads = server_setting("GUNICORN_THREADS")
    # A 12 MP photo takes a few seconds on a small CPU; a hung worker is still recycled.
    timeout = server_setting("GUNICORN_TIMEOUT")
    graceful_timeout = server_setting("GUNICORN_GRACEFUL_TIMEOUT")
except ConfigError as exc:  # the sentence alone, not a traceback of this file
    sys.exit(f"gunicorn.conf.py: {exc}")
keepalive = 5
# The front (nginx) bounds a request's headers by size (docs/front.md), not by count; past
# gunicorn's default of 100 fields a client got gunicorn's own HTML 431. nginx passes at
# most 4 × 8000 bytes of headers (large_client_header_buffers): 1000 fields of 32 bytes,
# and real header lines ("Name: value") are longer. gunicorn buffers up to fields × 8 KB
# of headers: 8 MB here, where its most (32768) let a client facing gunicorn without the
# front (the image on its own) make it hold 268 MB for one request.
limit_request_fields = 1000
# gunicorn's control socket (gunicornc) is not used: by default it would go in
# ~/.gunicorn, which the pod's read-only root cannot hold (an ERROR at each start), and
# servers run by one user elsewhere would share the one path.
control_socket_disable = True
# The app logs every request itself, with its request id (app/http/observability.py).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Each worker loads the model itself after the fork; onnxruntime sessions do not
# survive a fork reliably, so the app is not preloaded in the master.
preload_app = False
wsgi_app = "app:create_app()"


# The workers share the CPUs: unless told otherwise, each makes as many cutouts at once as
# its share of the cores (app.hosting counts them inside a container too).
if os.environ.get("ENGINE_CONCURRENCY", "0") in ("", "0"):
    raw_env = [f"ENGINE_CONCURRENCY={max(1, available_cpus() // workers)}"]

# With several workers, each counts its own Prometheus metrics into files in this folder
# and /metrics adds them up; the folder must start empty and forget workers that exit.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(server):
    if _metrics_dir:
        import shutil

        shutil.rmtree(_metrics_dir, ignore_errors=True)
        os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    if _metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# A body the app did not read (it answered 413 from the Content-Length alone, or refused an
# oversized JSON body) is read here once the answer has gone out. gunicorn itself reads at
# most 64 KB of it and then closes the connection, and closing a socket with unread data
# resets it: a proxy still sending the body (the front, docs/front.md) loses the answer and
# replies 502, and a client on a kept-alive connection finds it gone. Bounded: above the
# front's 20 MB request limit, and a client that stops sending is not waited for long.
_DRAIN_BYTES = 32 * 1024 * 1024
_DRAIN_SECONDS = 10


def post_request(worker, req, environ, resp):
    _drain(req)
    _finished(worker)


def _drain(req):
    body = getattr(req, "body", None)
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if body is None or sock is None or getattr(body, "failed", False):
        return
    deadline = time.monotonic() + _DRAIN_SECONDS
    left = _DRAIN_BYTES
    before = sock.gettimeout()
    try:
        while left > 0 and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            data = body.read(min(left, 64 * 1024))
            if not data:
                return
            left -= len(data)
    except Exception:  # noqa: S110 - a broken body: gunicorn closes the connection
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(before)


# Memory (docs/scaling.md): a large photo's job takes its worker up by hundreds of MB for
# a few seconds. Image-sized buffers are mapped on their own (app.hosting), and when the
# worker falls idle (its last request in flight done: with threads, one request's end is
# not the others') more than _TRIM_ABOVE over where it last settled, the allocator's free
# pages are handed back, so an idle worker returns near its start. Only an idle worker is
# measured: during other requests the resident set is theirs, legitimately large, and a
# baseline taken then would stay high and skip later trims. A worker that stays above
# _RECYCLE_ABOVE even idle and trimmed (more than a job's designed peak: something is held
# that should not be) is replaced. gunicorn's max_requests counts requests, not bytes, and
# would recycle healthy workers.
_MIB = 1024 * 1024
_TRIM_ABOVE = 64 * _MIB
_RECYCLE_ABOVE = 1536 * _MIB
# pre_request and post_request run on the worker's request threads.
_IN_FLIGHT = threading.Lock()


def post_fork(server, worker):
    tune_allocator()
    worker.in_flight = 0
    # The baseline is taken at the first idle moment: the app is loaded after the fork.
    worker.settled_rss = 0


def pre_request(worker, req):
    with _IN_FLIGHT:
        worker.in_flight = getattr(worker, "in_flight", 0) + 1


def _finished(worker):
    # Settled under the lock: a request starting meanwhile waits the trim's few ms rather
    # than be counted in the idle measurement.
    with _IN_FLIGHT:
        worker.in_flight = max(0, getattr(worker, "in_flight", 0) - 1)
        if worker.in_flight == 0:
            _settle(worker)


def _settle(worker):
    settled, now = getattr(worker, "settled_rss", 0), resident_bytes()
    if settled and now <= settled + _TRIM_ABOVE:
        worker.settled_rss = min(settled, now)  # memory handed back since: the new floor
        return
    release_memory()
    worker.settled_rss = resident_bytes()
    if worker.settled_rss > _RECYCLE_ABOVE and worker.alive:
        worker.log.warning("Worker %s holds %d MiB idle; replacing it.",
                           worker.pid, worker.settled_rss // _MIB)
        worker.alive = False
