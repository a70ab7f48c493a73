"""What /proc says about a running gunicorn: its workers, their memory and CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def workers(master: int) -> list[int]:
    """The master's child processes: gunicorn's workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak resident set) of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes: unlike wall time, it hardly
    changes when other work shares the machine."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def gunicorn_master(pid: int) -> int:
    """gunicorn's master: `pid` itself, or its child when `pid` is scripts/serve.py (whose
    other child is nginx)."""
    if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
        return pid
    for child in workers(pid):
        if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise LookupError(f"no gunicorn at or under process {pid}")
