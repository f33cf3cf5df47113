"""The models of a multi-model endpoint (``SAGEMAKER_MULTI_MODEL=true``), in one worker.

Each model is a :class:`ModelRuntime` over its own directory and handler code. What the
endpoint has is the shared :class:`Manifest`, so every worker serves every model: a
worker loads a model on its first request for it, and a follower thread unloads what the
manifest no longer has and publishes this worker's heartbeat. Loading past the memory
budget (or ``BYOC_MME_MAX_MODELS``) is a 507, which SageMaker answers by unloading models
itself; ``BYOC_MME_EVICTION=lru`` unloads the least recently used instead, for use
outside SageMaker.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..codecs import CodecRegistry
from ..errors import BadRequest, Conflict, InsufficientMemory, NotLoaded, ServiceUnavailable
from ..handler import (
    HandlerError,
    Handlers,
    forget_model_modules,
    load_handlers,
    load_model_handlers,
)
from ..settings import Settings
from .manifest import Entry, Manifest
from .memory import budget_bytes, release_free_memory, usage_bytes
from .runtime import ModelRuntime, ModelState

__all__ = ["MultiModelRegistry", "NotLoaded"]

log = logging.getLogger("byoc.serving")
FOLLOW_INTERVAL = 0.1
DELETE_TIMEOUT = 360.0  # SageMaker waits this long for an unload


class MultiModelRegistry:
    def __init__(self, settings: Settings, codecs: CodecRegistry, root: Path) -> None:
        self.settings = settings
        self.codecs = codecs
        self.manifest = Manifest(root)
        self._local: dict[str, ModelRuntime] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._image_handlers: Handlers | None = None
        self._busy: set[str] = set()  # names this worker is loading now
        self._beat_lock = threading.Lock()
        self._stop = threading.Event()
        self._follower_pid = 0

    def _ensure_follower(self) -> None:
        """The follower runs in the process that serves (a thread does not survive fork)."""
        with self._lock:
            if self._follower_pid != os.getpid():
                self._follower_pid = os.getpid()
                threading.Thread(target=self._follow, name="byoc-mme", daemon=True).start()

    # -- the /models API ------------------------------------------------------------
    def load(self, name: str, url: str) -> Entry:
        self._ensure_follower()
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
            runtime = self._load_local(name, url)
        except BaseException:
            self.manifest.remove(name)
            raise
        if runtime.state is ModelState.FAILED:
            self.manifest.remove(name)
            self._drop(name)
            failure = runtime.failure or "unknown error"
            if "MemoryError" in failure:
                raise InsufficientMemory(f"model {name} ran out of memory while loading")
            raise BadRequest(f"model {name} failed to load: {failure}", code="model_load_failed")
        entry = self.manifest.get(name)
        assert entry is not None
        return entry

    def get(self, name: str) -> Entry:
        entry = self.manifest.get(name)
        if entry is None:
            raise NotLoaded(f"model {name} is not loaded")
        return entry

    def list(self, token: str | None, limit: int | None) -> tuple[list[Entry], str | None]:
        self._ensure_follower()
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
        self._ensure_follower()
        if not self.manifest.remove(name):
            raise NotLoaded(f"model {name} is not loaded")
        self._drop(name)
        deadline = time.monotonic() + DELETE_TIMEOUT
        while self.manifest.holders(name, os.getpid()):  # every worker has freed it
            if time.monotonic() > deadline:
                log.warning("model %s: some workers did not unload it in time", name)
                break
            time.sleep(FOLLOW_INTERVAL / 2)

    def runtime(self, name: str) -> ModelRuntime:
        """The model's runtime in this worker, loading it here on first use."""
        self._ensure_follower()
        entry = self.manifest.get(name)  # a stat and a small read: deleted means gone, here too
        if entry is None:
            if name in self._local:
                self._drop(name)
            raise NotLoaded(f"model {name} is not loaded")
        held = self._local.get(name)
        runtime = held if held is not None and held.model_dir == entry.url else None
        runtime = runtime or self._load_local(name, entry.url)
        if runtime.state is ModelState.FAILED:
            raise ServiceUnavailable(f"model {name} failed to load: {runtime.failure}")
        self.manifest.touch(name)
        return runtime

    # -- inside this worker ------------------------------------------------------------
    def _load_local(self, name: str, url: str) -> ModelRuntime:
        with self._lock:
            lock = self._loading.setdefault(name, threading.Lock())
        with lock:
            held = self._local.get(name)
            if held is not None and held.model_dir == url:
                return held
            self._busy.add(name)  # in the heartbeat while loading: a DELETE waits for it
            self._beat()
            try:
                try:
                    handlers = load_model_handlers(
                        Path(url), self.settings, self._fallback_handlers
                    )
                except HandlerError as exc:
                    raise BadRequest(f"model {name}: {exc}", code="model_load_failed") from exc
                runtime = ModelRuntime(
                    self.settings, self.codecs, url, handlers=handlers, name=name
                )
                runtime.load()
                entry = self.manifest.get(name)
                if entry is None or entry.url != url:  # deleted (or replaced) meanwhile
                    forget_model_modules(Path(url))
                    raise NotLoaded(f"model {name} was unloaded while it loaded")
                if runtime.state is ModelState.READY:
                    self._local[name] = runtime
                return runtime
            finally:
                self._busy.discard(name)
                self._beat()

    def _fallback_handlers(self) -> Handlers:
        if self._image_handlers is None:
            self._image_handlers = load_handlers(self.settings)
        return self._image_handlers

    def _drop(self, name: str) -> None:
        runtime = self._local.pop(name, None)
        if runtime is not None:
            # a request already running keeps its own reference and finishes
            forget_model_modules(Path(runtime.model_dir))
            del runtime
            gc.collect()  # free the model now, not at some later collection
            release_free_memory()  # glibc keeps freed memory; the budget reads RSS
            self._beat()

    def _make_room(self) -> None:
        while self._full():
            if not self.settings.mme_evict:
                raise InsufficientMemory(self._full_message())
            entries = self.manifest.entries()
            if not entries:
                raise InsufficientMemory(self._full_message())
            victim = min(entries, key=lambda entry: entry.used)
            log.info("evicting model %s (least recently used)", victim.name)
            try:
                self.unload(victim.name)
            except NotLoaded:
                continue  # another worker evicted it first

    def _full(self) -> bool:
        limit = self.settings.mme_max_models
        if limit and len(self.manifest.entries()) >= limit:
            return True
        return usage_bytes() > budget_bytes(self.settings.mme_memory_budget_mb)

    def _full_message(self) -> str:
        used, budget = usage_bytes() / 2**20, budget_bytes(self.settings.mme_memory_budget_mb)
        count = len(self.manifest.entries())
        return (
            f"no room for another model: {count} loaded, {used:.0f} MiB used of a "
            f"{budget / 2**20:.0f} MiB budget"
            + (
                f", at most {self.settings.mme_max_models} models"
                if self.settings.mme_max_models
                else ""
            )
        )

    def _beat(self) -> None:
        try:
            with self._beat_lock:  # one writer at a time: the newest list is the one published
                self.manifest.beat(os.getpid(), sorted({*list(self._local), *list(self._busy)}))
        except (OSError, RuntimeError):
            log.warning("could not write the multi-model heartbeat", exc_info=True)

    def _follow(self) -> None:
        while not self._stop.wait(FOLLOW_INTERVAL):
            try:
                present = {entry.name: entry.url for entry in self.manifest.entries()}
                held = list(self._local.items())
                for name in [n for n, rt in held if present.get(n) != rt.model_dir]:
                    log.info("model %s left the endpoint: unloading it", name)
                    self._drop(name)
                self._beat()
            except Exception:
                log.exception("multi-model follower")

    def close(self) -> None:
        self._stop.set()

    def describe(self, entry: Entry) -> dict[str, Any]:
        return {"modelName": entry.name, "modelUrl": entry.url}
