"""The models of a multi-model endpoint (``SAGEMAKER_MULTI_MODEL=true``): the ``/models``
API's operations, in one worker.

What the endpoint has is the shared :class:`Manifest`, so every worker serves every model
(each holds its own copy, kept by :class:`WorkerModels`). Loading past the memory budget
(or ``BYOC_MME_MAX_MODELS``) is a 507, which SageMaker answers by unloading models itself;
``BYOC_MME_EVICTION=lru`` unloads the least recently used instead, for use outside
SageMaker. The budget counts what is used now and what the copies still to be loaded will
add (each model's cost, as measured by the worker that loaded it, for every live worker
that does not hold it yet), so a 507 comes before the memory runs out, not after.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..codecs import CodecRegistry
from ..errors import BadRequest, Conflict, InsufficientMemory, NotLoaded, ServiceUnavailable
from ..handler import Handlers, load_handlers
from ..settings import Settings
from .http import Response
from .manifest import Entry, Manifest
from .memory import budget_bytes, usage_bytes
from .runtime import ModelRuntime, ModelState
from .worker_models import WorkerModels

__all__ = ["MultiModelRegistry", "NotLoaded"]

log = logging.getLogger("byoc.serving")
DELETE_TIMEOUT = 360.0  # SageMaker waits this long for an unload


class MultiModelRegistry:
    def __init__(self, settings: Settings, codecs: CodecRegistry, root: Path) -> None:
        self.settings = settings
        self.manifest = Manifest(root)
        self._image_handlers: Handlers | None = None
        self.copies = WorkerModels(settings, codecs, self.manifest, self._fallback_handlers)

    # -- the /models API ------------------------------------------------------------
    def load(self, name: str, url: str) -> Entry:
        self.copies.start()
        directory = Path(url)
        try:
            exists = directory.is_dir() and os.access(directory, os.R_OK | os.X_OK)
        except OSError as exc:  # e.g. a parent this user may not search
            raise NotLoaded(f"model directory {url} cannot be read: {exc.strerror}") from None
        if not exists:
            raise NotLoaded(f"model directory {url} does not exist or cannot be read")
        with self.manifest.locked():  # the room check and the add, as one step
            if self.manifest.get(name) is not None:
                raise Conflict(f"model {name} is already loaded")
            self._make_room()
            if not self.manifest.add(name, url):
                raise Conflict(f"model {name} is already loaded")
        try:
            runtime = self.copies.schedule(name, url).result()
        except BaseException:
            self._forget(name)
            raise
        if runtime.state is ModelState.FAILED:
            self._forget(name)
            failure = runtime.failure or "unknown error"
            if "MemoryError" in failure:
                raise InsufficientMemory(f"model {name} ran out of memory while loading")
            raise BadRequest(f"model {name} failed to load: {failure}", code="model_load_failed")
        entry = self.manifest.get(name)
        if entry is None:
            raise NotLoaded(f"model {name} was unloaded while it loaded")
        return entry

    def get(self, name: str) -> Entry:
        entry = self.manifest.get(name)
        if entry is None:
            raise NotLoaded(f"model {name} is not loaded")
        return entry

    def list(self, token: str | None, limit: int | None) -> tuple[list[Entry], str | None]:
        self.copies.start()
        entries = self.manifest.entries()
        start = 0
        if token:
            if not (token.isascii() and token.isdigit()):
                raise BadRequest(f"invalid next_page_token {token!r}")
            start = int(token)
        size = limit or len(entries) or 1
        page = entries[start : start + size]
        following = start + size
        return page, (str(following) if following < len(entries) else None)

    def unload(self, name: str) -> None:
        self.copies.start()
        if not self._forget(name):
            raise NotLoaded(f"model {name} is not loaded")
        deadline = time.monotonic() + DELETE_TIMEOUT
        pause = 0.002
        while self.manifest.holders(name, os.getpid()):  # every worker has freed it
            if time.monotonic() > deadline:
                log.warning("model %s: some workers did not unload it in time", name)
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def runtime(self, name: str | None) -> ModelRuntime:
        """The model's copy in this worker (waiting for it to load, up to the model server
        timeout)."""
        if name is None:
            raise NotLoaded(
                "this is a multi-model endpoint: POST /models/NAME/invoke "
                "(X-Amzn-SageMaker-Target-Model through SageMaker)"
            )
        entry = self.manifest.get(name)  # a stat and a small read: deleted means gone, here too
        if entry is None:
            self.copies.drop(name)
            raise NotLoaded(f"model {name} is not loaded")
        runtime = self.copies.get(name, entry.url, float(self.settings.timeout))
        if runtime.state is ModelState.FAILED:
            raise ServiceUnavailable(f"model {name} failed to load: {runtime.failure}")
        self.manifest.touch(name)
        return runtime

    def ping(self) -> Response:
        return Response(200, b"", "text/plain")  # healthy with zero models loaded

    def close(self) -> None:
        self.copies.close()

    def describe(self, entry: Entry) -> dict[str, Any]:
        return {"modelName": entry.name, "modelUrl": entry.url}

    # -- inside ------------------------------------------------------------------------
    def _forget(self, name: str) -> bool:
        """Take the model out of the manifest and out of this worker, and wake the other
        workers so that they drop theirs; ``False`` if it was not in the manifest."""
        removed = self.manifest.remove(name)
        if removed:
            self.manifest.wake_all(os.getpid())
        self.copies.drop(name)
        return removed

    def _fallback_handlers(self) -> Handlers:
        if self._image_handlers is None:
            self._image_handlers = load_handlers(self.settings)
        return self._image_handlers

    def _make_room(self) -> None:
        while (full := self._no_room()) is not None:
            why, entries = full
            if not self.settings.mme_evict or not entries:
                raise InsufficientMemory(why)
            victim = min(entries, key=lambda entry: entry.used)
            log.info("evicting model %s (least recently used)", victim.name)
            try:
                self.unload(victim.name)
            except NotLoaded:
                continue  # another worker evicted it first

    def _projected(self, entries: Sequence[Entry] | None = None) -> tuple[int, int]:
        """(bytes used now, bytes the copies not loaded yet will add)."""
        workers = self.manifest.live_workers()
        coming = 0
        for entry in self.manifest.entries() if entries is None else entries:
            costs = [w.costs[entry.name] for w in workers if entry.name in w.costs]
            missing = sum(1 for w in workers if entry.name not in w.loaded)
            coming += max(costs, default=0) * missing
        return usage_bytes(), coming

    def _no_room(self) -> tuple[str, Sequence[Entry]] | None:
        """Why another model would not fit (and what is loaded), or ``None`` if it would;
        the manifest and the usage are read once."""
        entries = self.manifest.entries()
        limit = self.settings.mme_max_models
        used, coming = self._projected(entries)
        budget = budget_bytes(self.settings.mme_memory_budget_mb)
        if not (limit and len(entries) >= limit) and used + coming <= budget:
            return None
        why = (
            f"no room for another model: {len(entries)} loaded, {used / 2**20:.0f} MiB used"
            + (f" and {coming / 2**20:.0f} MiB on its way to workers" if coming else "")
            + f" of a {budget / 2**20:.0f} MiB budget"
            + (f", at most {limit} models" if limit else "")
        )
        return why, entries
