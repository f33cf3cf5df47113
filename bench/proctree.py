"""RSS and open file descriptors of a process and its descendants, from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessSample", "TreeSample", "sample_tree"]

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    rss: int
    """Resident bytes (``/proc/PID/statm``)."""
    fds: int
    """Open file descriptors (entries of ``/proc/PID/fd``)."""


@dataclass(frozen=True)
class TreeSample:
    processes: tuple[ProcessSample, ...]

    @property
    def rss(self) -> int:
        return sum(p.rss for p in self.processes)

    @property
    def fds(self) -> int:
        return sum(p.fds for p in self.processes)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.processes)


def _parent(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[1])


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it, parents first."""
    parents = {pid: _parent(pid) for pid in map(int, filter(str.isdigit, os.listdir("/proc")))}
    found, frontier = [root], [root]
    while frontier:
        frontier = sorted(pid for pid, parent in parents.items() if parent in frontier)
        found.extend(frontier)
    return found


def sample_tree(root: int) -> TreeSample:
    samples = []
    for pid in descendants(root):
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        samples.append(ProcessSample(pid, rss, fds))
    return TreeSample(tuple(samples))
