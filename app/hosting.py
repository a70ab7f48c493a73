"""Facts about the machine the app runs on. Standard library only: gunicorn.conf.py imports
this in the master process, which must not load the app (or Flask, numpy, onnxruntime)."""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


# What gunicorn.conf.py reads (the container and `make serve`): variable -> (default, what).
SERVER_VARIABLES = {
    "PORT": ("5000", "Port gunicorn listens on: the image on its own serves there; the pod "
                     "runs it on 8000 behind the front, and make serve puts the front on PORT "
                     "and gunicorn on a free loopback port."),
    "WEB_CONCURRENCY": ("2", "gunicorn workers (used only with MONGO_URI: the demo store "
                             "lives inside one process)."),
    "GUNICORN_THREADS": ("8", "Threads per worker: they serve pages and downloads while "
                              "uploads wait for a work slot."),
    "GUNICORN_TIMEOUT": ("120", "Seconds before a worker whose main loop is silent is "
                                "recycled (a slow request in one of its threads is not)."),
    "GUNICORN_GRACEFUL_TIMEOUT": ("30", "Seconds a stopping worker has to finish its "
                                        "requests."),
}


def server_setting(name: str) -> int:
    """A gunicorn setting from the environment, or its default: a whole number of at
    least 1 (a port at most 65535), else `ConfigError` naming it. Not read from `.env`:
    gunicorn reads these before any of the app's code runs."""
    raw = os.environ.get(name) or SERVER_VARIABLES[name][0]
    highest = 65535 if name == "PORT" else None
    value = int(raw) if raw.strip().isdigit() else 0
    if value < 1 or (highest is not None and value > highest):
        bound = f" and at most {highest}" if highest is not None else ""
        raise ConfigError(f"{name} must be a whole number of at least 1{bound}, not {raw!r}.")
    return value


def set_but_empty(variable: str) -> bool:
    """Whether `variable` is in the environment with nothing in it (click, which reads the
    command line's variables, takes such a one for none)."""
    return os.environ.get(variable) == ""


def available_cpus() -> int:
    """CPUs this process may use: a container's CPU limit (cgroup v2 `cpu.max`) where there
    is one, else the CPUs it may be scheduled on. os.cpu_count() would report the host's."""
    # sched_getaffinity is Linux's; elsewhere (macOS) the machine's count is the best guess.
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return cpus


def check_metrics_folder(folder: str) -> None:
    """prometheus_client reads PROMETHEUS_MULTIPROC_DIR from the process environment when it
    is imported, before any .env is read: a value only in .env would silently do nothing,
    and a missing folder would break /metrics. Checked when the app starts, not when
    settings are read, since it is about this process."""
    if not folder:
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != folder:
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR must be set in the environment of the "
                          "process (not only in .env): prometheus_client reads it when it "
                          "is imported.")
    if not Path(folder).is_dir():
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR {folder!r} is not a folder "
                          "(gunicorn.conf.py creates it; create it when running otherwise).")


# glibc's malloc serves a freed block's memory to later requests instead of giving it
# back, and raises its mmap threshold (up to 32 MB) as large blocks are freed: after one
# 50 MP job a worker kept ~1.8 GB resident while idle. A fixed threshold turns the dynamic
# one off, so image-sized buffers are mapped on their own and unmapped when freed;
# malloc_trim hands back the free pages left inside the heaps when the worker falls idle
# (gunicorn.conf.py). glibc only: elsewhere (musl, macOS) both do nothing.
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
_M_ARENA_MAX = -8
# Measured on a 50 MP job (bench/memory.py): at 1 MiB it took twice as long (Pillow and numpy
# map and fault in every band); at 8 MiB as long as without, and idle RSS came back as far.
MMAP_THRESHOLD = 8 * 1024 * 1024
# Fixing the mmap threshold also fixes the trim threshold, at its default of 128 KiB: each
# free at the top of a heap handed the pages back, and the next upload faulted them in
# again. Through gunicorn, a 1 MP upload took 8,300-8,600 page faults and 16-18 ms of
# system CPU, a 12 MP one 95,800 and 194 ms; at 32 MiB, 510-630 and 2-5 ms, 28,800 and
# 59 ms (docs/performance.md), and the 49.8 MP job of tests/system/test_memory.py peaked
# lower (1,297-1,312 MiB against 1,436-1,457). 64 MiB with a 16 MiB mmap threshold took
# 12 MP to 2,700 faults but that job to 1,406-1,412 MiB. The threshold holds for each of
# malloc's arenas (ARENAS below); what stays free in them is handed back when the worker
# is idle.
TRIM_THRESHOLD = 32 * 1024 * 1024
# malloc gives each thread that contends for an arena one of its own, up to 8 per core, and
# each keeps its own free memory: with two, the 49.8 MP jobs of test_memory peaked 30-50 MiB
# lower (the progressive JPEG's 1,266-1,282 MiB against 1,292-1,357), and a 1 MP or 12 MP
# upload through gunicorn took the same CPU (two runs of each, 2026-12-06).
ARENAS = 2


def _glibc():
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_allocator() -> bool:
    """Blocks of MMAP_THRESHOLD bytes and more mapped on their own, up to TRIM_THRESHOLD
    bytes kept free at a heap's top for the next upload, and ARENAS heaps at most;
    whether it was done."""
    libc = _glibc()
    return bool(libc and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                and libc.mallopt(_M_ARENA_MAX, ARENAS))


def release_memory() -> bool:
    """Give the allocator's free pages back to the system; whether any were."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))


def resident_bytes() -> int:
    """This process's resident set now (VmRSS), from /proc; 0 where there is none."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
