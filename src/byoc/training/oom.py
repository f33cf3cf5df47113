"""Whether the kernel's out-of-memory killer struck: this process's memory cgroup counts
its kills (v2 ``memory.events``, v1 ``memory.oom_control``; in a container, the
container's cgroup, which the training program shares)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["OomCounter", "OomEvidence", "memory_cgroup_dir"]

_PROC = Path("/proc/self")
_NO_LIMIT = 1 << 60  # v1 reports "no limit" as a huge number, v2 as "max"


def _mounts(proc: Path) -> list[tuple[str, str, str, set[str]]]:
    """``(root, mount point, fstype, super options)`` of each cgroup mount."""
    found = []
    try:
        lines = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) >= 5 and len(rest) >= 3 and rest[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4], rest[0], set(rest[2].split(","))))
    return found


def memory_cgroup_dir(proc: Path = _PROC) -> tuple[Path, int] | None:
    """``(directory, version)`` of this process's memory cgroup, or None."""
    try:
        lines = (proc / "cgroup").read_text().splitlines()
    except OSError:
        return None
    mounts = _mounts(proc)
    candidates: list[tuple[Path, int]] = []
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        version = 2 if number == "0" and controllers == "" else 1
        if version == 1 and "memory" not in controllers.split(","):
            continue
        for root, point, fstype, options in mounts:
            if (fstype == "cgroup2") != (version == 2):
                continue
            if version == 1 and "memory" not in options:
                continue
            relative = path
            if root != "/" and (path == root or path.startswith(root + "/")):
                relative = path[len(root) :]
            candidates.append((Path(point) / relative.lstrip("/"), version))
    for directory, version in candidates:
        if (directory / ("memory.events" if version == 2 else "memory.oom_control")).is_file():
            return directory, version
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _field(text: str | None, name: str) -> int | None:
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class OomEvidence:
    killed: bool
    """The cgroup counted at least one out-of-memory kill while the program ran."""
    limit_mib: int | None
    """The cgroup's memory limit, if it has one."""


class OomCounter:
    """Read the OOM-kill count before the program starts; :meth:`since` says if it rose."""

    def __init__(self, proc: Path = _PROC) -> None:
        self._cgroup = memory_cgroup_dir(proc)
        self._before = self._count()

    def _count(self) -> int | None:
        if self._cgroup is None:
            return None
        directory, version = self._cgroup
        if version == 2:
            return _field(_read(directory / "memory.events"), "oom_kill")
        return _field(_read(directory / "memory.oom_control"), "oom_kill")

    def _limit_mib(self) -> int | None:
        if self._cgroup is None:
            return None
        directory, version = self._cgroup
        raw = _read(directory / ("memory.max" if version == 2 else "memory.limit_in_bytes"))
        text = (raw or "").strip()
        if not text.isdigit() or int(text) >= _NO_LIMIT:
            return None
        return int(text) // (1024 * 1024)

    def since(self) -> OomEvidence | None:
        """None when the count cannot be read (no memory cgroup visible)."""
        after = self._count()
        if self._before is None or after is None:
            return None
        return OomEvidence(killed=after > self._before, limit_mib=self._limit_mib())
