"""The multi-model manifest: which models the endpoint has, shared by every worker.

A directory (made by the gunicorn master, or by the service itself in a single process)
with one file per model under ``models/`` (``{"name", "url"}``; created with O_EXCL, so
two workers cannot both load a name) and one heartbeat per worker under ``workers/``
(``{"pid", "loaded", "beat"}``). A model loaded through any worker is in the manifest, so
every worker serves it (loading it on first use); a model deleted through any worker
leaves the manifest, every worker's follower unloads it, and the deleting worker answers
once no live worker's heartbeat lists it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entry", "Manifest"]

HEARTBEAT_STALE = 5.0  # seconds: a worker that has not beaten for this long is gone


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    used: float  # last use (mtime), for least-recently-used eviction


def _key(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class Manifest:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.models = root / "models"
        self.workers = root / "workers"
        self.models.mkdir(parents=True, exist_ok=True)
        self.workers.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Every worker's loads, one at a time (flock on the manifest directory)."""
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _path(self, name: str) -> Path:
        return self.models / f"{_key(name)}.json"

    def add(self, name: str, url: str) -> bool:
        """Record the model; ``False`` if the name is already there (409)."""
        try:
            fd = os.open(self._path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            json.dump({"name": name, "url": url}, handle)
        return True

    def remove(self, name: str) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def get(self, name: str) -> Entry | None:
        path = self._path(name)
        try:
            data = json.loads(path.read_text())
            return Entry(data["name"], data["url"], path.stat().st_mtime)
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def touch(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(name))

    def entries(self) -> list[Entry]:
        found = []
        for path in self.models.glob("*.json"):
            try:
                data = json.loads(path.read_text())
                found.append(Entry(data["name"], data["url"], path.stat().st_mtime))
            except (FileNotFoundError, ValueError, KeyError):
                continue  # being written or removed right now
        return sorted(found, key=lambda entry: entry.name)

    # -- workers ------------------------------------------------------------------
    def beat(self, pid: int, loaded: list[str]) -> None:
        partial = self.workers / f".{pid}.json"
        partial.write_text(json.dumps({"pid": pid, "loaded": loaded, "beat": time.time()}))
        partial.replace(self.workers / f"{pid}.json")

    def holders(self, name: str, except_pid: int) -> list[int]:
        """Live workers other than ``except_pid`` that still hold ``name``."""
        holding = []
        now = time.time()
        for path in self.workers.glob("[0-9]*.json"):
            try:
                data = json.loads(path.read_text())
            except (FileNotFoundError, ValueError):
                continue
            pid = int(data.get("pid", 0))
            if pid == except_pid or now - float(data.get("beat", 0)) > HEARTBEAT_STALE:
                continue
            if not _alive(pid):
                continue
            if name in data.get("loaded", []):
                holding.append(pid)
        return holding


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
