"""The multi-model manifest: which models the endpoint has, shared by every worker.

A directory (made by the gunicorn master, or by the service itself in a single process)
with one file per model under ``models/`` (``{"name", "url"}``; created with O_EXCL, so
two workers cannot both load a name) and one heartbeat per worker under ``workers/``
(``{"pid", "loaded", "costs", "beat"}``: what it holds and what each cost it in memory),
and a datagram socket per worker (``workers/<pid>.sock``) that wakes its follower. A model
loaded through any worker is in the manifest, so every worker serves it (each loads its own
copy); a model deleted through any worker leaves the manifest, the deleting worker wakes
the others, their followers unload it, and it answers once no live worker's heartbeat
lists it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entry", "Manifest", "WorkerView"]

# A worker whose process is alive but has not beaten for this long is hung, not busy: a
# C extension may hold the GIL for seconds (a large model's load), so this is generous;
# a worker that exits is removed by the master at once (``forget_worker``).
HEARTBEAT_STALE = 300.0


@dataclass(frozen=True)
class Entry:
    name: str
    url: str
    used: float  # last use (mtime), for least-recently-used eviction


@dataclass(frozen=True)
class WorkerView:
    pid: int
    loaded: frozenset[str]  # held or loading now
    costs: dict[str, int]  # bytes each held model added to the worker's memory


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
    def beat(self, pid: int, loaded: list[str], costs: dict[str, int]) -> None:
        partial = self.workers / f".{pid}.json"
        partial.write_text(
            json.dumps({"pid": pid, "loaded": loaded, "costs": costs, "beat": time.time()})
        )
        partial.replace(self.workers / f"{pid}.json")

    def live_workers(self) -> list[WorkerView]:
        views = []
        now = time.time()
        for path in self.workers.glob("[0-9]*.json"):
            try:
                data = json.loads(path.read_text())
                pid = int(data.get("pid", 0))
                beat = float(data.get("beat", 0))
                loaded = frozenset(str(name) for name in data.get("loaded", []))
                costs = {str(k): int(v) for k, v in dict(data.get("costs", {})).items()}
            except (FileNotFoundError, ValueError, TypeError):
                continue
            if now - beat <= HEARTBEAT_STALE and _alive(pid):
                views.append(WorkerView(pid, loaded, costs))
        return views

    def holders(self, name: str, except_pid: int) -> list[int]:
        """Live workers other than ``except_pid`` that still hold ``name``."""
        return [w.pid for w in self.live_workers() if w.pid != except_pid and name in w.loaded]

    def forget_worker(self, pid: int) -> None:
        """A worker exited (the master calls this): its heartbeat and socket go."""
        for path in (self.workers / f"{pid}.json", self._socket_path(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- wake-ups -----------------------------------------------------------------
    def _socket_path(self, pid: int) -> Path:
        return self.workers / f"{pid}.sock"

    def listen(self, pid: int) -> socket.socket | None:
        """This worker's wake-up socket (None where it cannot be made: the followers then
        only poll)."""
        path = self._socket_path(pid)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(path))
        except OSError:  # e.g. a path longer than sun_path's 108 bytes
            sock.close()
            return None
        return sock

    def wake_all(self, except_pid: int) -> None:
        """Wake every other worker's follower now (a model left the manifest)."""
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sender.setblocking(False)
        try:
            for path in self.workers.glob("[0-9]*.sock"):
                if path.stem != str(except_pid):
                    with contextlib.suppress(OSError):  # gone, or its queue is full already
                        sender.sendto(b"!", str(path))
        finally:
            sender.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
