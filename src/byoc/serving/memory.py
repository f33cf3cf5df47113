"""How much memory the endpoint may use and uses, for the multi-model 507.

The budget is ``BYOC_MME_MEMORY_BUDGET_MB``, else 90 % of the container's cgroup limit
(v2 ``memory.max``, v1 ``memory.limit_in_bytes``), else 90 % of the machine's memory. The
usage is the cgroup's when it has a limit (less its inactive file cache, which the kernel
reclaims before it kills anything: the "working set" ``docker stats`` shows), else the
resident memory of this server's processes (the master and its workers).
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path
from typing import Any

__all__ = ["budget_bytes", "process_rss", "release_free_memory", "usage_bytes"]

_CGROUP = Path("/sys/fs/cgroup")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_limit() -> int | None:
    for path in (_CGROUP / "memory.max", _CGROUP / "memory" / "memory.limit_in_bytes"):
        limit = _read_int(path)
        if limit is not None and limit < 1 << 60:  # v1 reports "no limit" as a huge number
            return limit
    return None


def budget_bytes(budget_mb: float | None) -> int:
    if budget_mb:
        return int(budget_mb * 1024 * 1024)
    limit = cgroup_limit() or os.sysconf("SC_PHYS_PAGES") * _PAGE
    return int(limit * 0.9)


def _inactive_file() -> int:
    for path, key in (
        (_CGROUP / "memory.stat", "inactive_file"),
        (_CGROUP / "memory" / "memory.stat", "total_inactive_file"),
    ):
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    return 0


def process_rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def usage_bytes() -> int:
    if cgroup_limit() is not None:
        for path in (_CGROUP / "memory.current", _CGROUP / "memory" / "memory.usage_in_bytes"):
            current = _read_int(path)
            if current is not None:
                return max(0, current - _inactive_file())
    master = os.getppid()  # in a gunicorn worker; in a single process, our parent is cheap
    pids = {os.getpid()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                pids.add(int(entry.name))
    return sum(process_rss(pid) for pid in pids) + process_rss(master)


def release_free_memory() -> None:
    """Give memory freed by an unloaded model back to the OS (glibc's malloc_trim), so that
    RSS, which the budget reads, goes down after a DELETE; a no-op without glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    # The C library the process already has (no ctypes.util.find_library: it forks a
    # shell for ldconfig, which on a multi-model endpoint is a copy of the worker).
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
