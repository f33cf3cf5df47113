"""The front end's disk: model archives unpacked under their names, and when each was used.

``archives`` stands for the endpoint's S3 prefix (a folder of ``*.tar.gz``); ``root`` is the
host directory mounted read-only at ``/opt/ml/models``. The target model ``a/b/m1.tar.gz``
is named by a hash of its path and unpacked once into ``root/<name>/model``
(``filter="data"``, into a scratch folder renamed into place, so the container never sees
half a model). ``root/.byoc-mme.json`` records the archive folder and each model's last use;
it changes only under an exclusive lock of that file, so concurrent invokes agree.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["CONTAINER_ROOT", "ModelStore", "State", "StoreError", "model_name", "normalise_target"]

CONTAINER_ROOT = "/opt/ml/models"
STATE_FILE = ".byoc-mme.json"


class StoreError(RuntimeError):
    """A target model that cannot be served: bad path, no archive, unreadable archive."""


def normalise_target(target: str) -> str:
    """``a/b/m1.tar.gz`` as SageMaker's TargetModel: relative, inside the prefix, an archive."""
    path = PurePosixPath(target)
    if not target or path.is_absolute() or ".." in path.parts:
        raise StoreError(f"target model {target!r} must be a path relative to the models folder")
    if not path.name.endswith(".tar.gz"):
        raise StoreError(f"target model {target!r} must be a .tar.gz archive")
    return str(path)


def model_name(target: str) -> str:
    """The opaque name the container knows the model by (the front end's hash of the path)."""
    return hashlib.sha256(target.encode()).hexdigest()[:32]


def _make_readable(top: Path) -> None:
    """The container's user (not us) reads the models: directories 0755, files o+r."""
    top.chmod(0o755)
    for directory, subdirs, files in os.walk(top):
        for sub in subdirs:
            (Path(directory) / sub).chmod(0o755)
        for file in files:
            path = Path(directory) / file
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)


class State:
    """The state file's contents while the lock is held."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.models: dict[str, dict[str, Any]] = data.setdefault("models", {})

    def touch(self, name: str, target: str) -> None:
        self.models[name] = {"target": target, "used": time.time()}

    def target_of(self, name: str) -> str:
        return str(self.models.get(name, {}).get("target", "not loaded by byoc local invoke"))

    def least_recently_used(self, loaded: Iterable[str], keep: str) -> str | None:
        """Of the loaded models other than ``keep``, the one used longest ago (unknown: first)."""
        candidates = [name for name in loaded if name != keep]
        return min(
            candidates, key=lambda name: float(self.models.get(name, {}).get("used", 0.0)),
            default=None,
        )  # fmt: skip


class ModelStore:
    """``root`` on the host; ``mount``, where the server sees it (``/opt/ml/models``)."""

    def __init__(self, root: Path, mount: str = CONTAINER_ROOT) -> None:
        self.root = root
        self.mount = mount
        self.state_path = root / STATE_FILE

    @classmethod
    def create(cls, root: Path, archives: Path, mount: str = CONTAINER_ROOT) -> ModelStore:
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        store = cls(root, mount)
        store.state_path.write_text(json.dumps({"archives": str(archives.resolve()), "models": {}}))
        store.state_path.chmod(0o644)
        return store

    def exists(self) -> bool:
        return self.state_path.is_file()

    @contextmanager
    def locked(self) -> Iterator[State]:
        """The state, read and written back (even after an error: unloads did happen) under an
        exclusive lock of the state file."""
        with self.state_path.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            state = State(json.loads(handle.read() or "{}"))
            try:
                yield state
            finally:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state.data))

    def container_url(self, name: str) -> str:
        return f"{self.mount}/{name}/model"

    def unpack(self, state: State, target: str) -> str:
        """Unpack ``target`` (once) under its name; call with the lock held. Returns the name."""
        name = model_name(target)
        model = self.root / name / "model"
        if model.is_dir():
            return name
        archives = Path(state.data["archives"])
        archive = archives / target
        if not archive.resolve().is_relative_to(archives.resolve()) or not archive.is_file():
            raise StoreError(f"no model archive {target} in {archives}")
        scratch = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=self.root))
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")
            _make_readable(scratch)
            model.parent.mkdir(exist_ok=True)
            model.parent.chmod(0o755)
            scratch.rename(model)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            reason = " ".join(str(exc).split())  # tarfile's reasons span lines
            raise StoreError(f"{archive} cannot be unpacked: {reason}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return name
