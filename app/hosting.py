"""Facts about the machine the app runs on. Standard library only: gunicorn.conf.py imports
this in the master process, which must not load the app (or Flask, numpy, onnxruntime)."""

from __future__ import annotations

import os
from pathlib import Path


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
