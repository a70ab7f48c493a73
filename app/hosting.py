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
    "GUNICORN_TIMEOUT": ("120", "Seconds before a silent worker is recycled."),
    "GUNICORN_GRACEFUL_TIMEOUT": ("30", "Seconds a stopping worker has to finish its "
                                        "requests."),
}


def server_setting(name: str) -> str:
    """A gunicorn setting from the environment, or its default."""
    return os.environ.get(name) or SERVER_VARIABLES[name][0]


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
