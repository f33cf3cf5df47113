"""This worker's copies of a multi-model endpoint's models, and the thread that keeps them
in step with the shared :class:`Manifest`.

Every load in a worker runs on one loader thread, whoever asks for it: ``POST /models``
waits for it; a request for a model another worker loaded waits for it up to the model
server timeout (then 503, the load going on); the follower asks for every model in the
manifest this worker does not hold yet, so each worker's copy is loaded (and its memory
counted against the budget) soon after the first, not on some later request. A copy that
fails to load is not retried for ``RETRY_AFTER`` seconds (503s meanwhile, with the reason).
The follower wakes on a datagram from a worker that deleted a model, or every
``FOLLOW_INTERVAL``; it unloads what left the manifest and publishes the heartbeat.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from ..codecs import CodecRegistry
from ..errors import BadRequest, NotLoaded, ServiceUnavailable
from ..handler import HandlerError, Handlers, forget_model_modules, load_model_handlers
from ..settings import Settings
from .manifest import Manifest
from .memory import process_rss, release_free_memory
from .runtime import ModelRuntime, ModelState

__all__ = ["WorkerModels"]

log = logging.getLogger("byoc.serving")
FOLLOW_INTERVAL = 0.1
RETRY_AFTER = 30.0  # seconds before a copy that failed to load is tried again


class WorkerModels:
    def __init__(
        self,
        settings: Settings,
        codecs: CodecRegistry,
        manifest: Manifest,
        fallback: Callable[[], Handlers],
    ) -> None:
        self.settings = settings
        self.codecs = codecs
        self.manifest = manifest
        self._fallback = fallback
        self._held: dict[str, ModelRuntime] = {}
        self._costs: dict[str, int] = {}
        self._pending: dict[str, tuple[str, Future[ModelRuntime]]] = {}
        self._failed: dict[str, tuple[str, float, str]] = {}  # name -> (url, until, why)
        self._loading: str | None = None  # the name on the loader thread now
        self._lock = threading.Lock()
        self._beat_lock = threading.Lock()
        self._stop = threading.Event()
        self._pid = 0
        self._executor: ThreadPoolExecutor | None = None
        self._wakeup: socket.socket | None = None

    # -- start-up (in the process that serves: threads do not survive fork) -----------
    def start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._held.clear()
            self._pending.clear()
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="byoc-mme-load")
            self._wakeup = self.manifest.listen(self._pid)
        self._beat()
        threading.Thread(target=self._follow, name="byoc-mme", daemon=True).start()

    # -- what the registry asks ----------------------------------------------------
    def held(self, name: str, url: str) -> ModelRuntime | None:
        runtime = self._held.get(name)
        return runtime if runtime is not None and runtime.model_dir == url else None

    def get(self, name: str, url: str, timeout: float | None) -> ModelRuntime:
        """This worker's copy, loading it (waiting up to ``timeout``; 503 after it)."""
        runtime = self.held(name, url)
        if runtime is not None:
            return runtime
        failed = self._failed.get(name)
        if failed is not None and failed[0] == url and time.monotonic() < failed[1]:
            raise ServiceUnavailable(f"model {name} failed to load in this worker: {failed[2]}")
        try:
            return self.schedule(name, url).result(timeout)
        except FutureTimeout:
            raise ServiceUnavailable(
                f"model {name} is still loading in this worker (over {timeout:g}s); retry"
            ) from None

    def schedule(self, name: str, url: str) -> Future[ModelRuntime]:
        self.start()
        with self._lock:
            pending = self._pending.get(name)
            if pending is not None and pending[0] == url:
                return pending[1]
            assert self._executor is not None
            future = self._executor.submit(self._load, name, url)
            self._pending[name] = (url, future)
            return future

    def drop(self, name: str) -> None:
        runtime = self._held.pop(name, None)
        self._costs.pop(name, None)
        self._failed.pop(name, None)
        if runtime is not None:
            # a request already running keeps its own reference and finishes
            forget_model_modules(Path(runtime.model_dir))
            del runtime
            gc.collect()  # free the model now, not at some later collection
            release_free_memory()  # glibc keeps freed memory; the budget reads RSS
            self._beat()

    def close(self) -> None:
        self._stop.set()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._wakeup is not None:
            self._wakeup.close()
            self.manifest.forget_worker(self._pid)

    # -- the loader thread ---------------------------------------------------------
    def _load(self, name: str, url: str) -> ModelRuntime:
        try:
            held = self.held(name, url)
            if held is not None:
                return held
            self._loading = name
            self._beat()  # listed before the check below: a DELETE after it waits for us
            entry = self.manifest.get(name)
            if entry is None or entry.url != url:  # deleted before its turn came
                raise NotLoaded(f"model {name} is not loaded")
            return self._load_copy(name, url)
        finally:
            self._loading = None
            with self._lock:
                if self._pending.get(name, ("", None))[0] == url:
                    del self._pending[name]
            self._beat()

    def _load_copy(self, name: str, url: str) -> ModelRuntime:
        before = process_rss(os.getpid())
        try:
            handlers = load_model_handlers(Path(url), self.settings, self._fallback)
        except HandlerError as exc:
            raise BadRequest(f"model {name}: {exc}", code="model_load_failed") from exc
        runtime = ModelRuntime(self.settings, self.codecs, url, handlers=handlers, name=name)
        runtime.load()
        entry = self.manifest.get(name)
        if entry is None or entry.url != url:  # deleted (or replaced) meanwhile
            forget_model_modules(Path(url))
            raise NotLoaded(f"model {name} was unloaded while it loaded")
        if runtime.state is ModelState.READY:
            self._held[name] = runtime
            self._costs[name] = max(0, process_rss(os.getpid()) - before)
            self._failed.pop(name, None)
        else:
            why = runtime.failure or "unknown error"
            self._failed[name] = (url, time.monotonic() + RETRY_AFTER, why)
        return runtime

    # -- the follower --------------------------------------------------------------
    def _beat(self) -> None:
        try:
            with self._beat_lock:  # one writer at a time: the newest list is the one published
                loading = [self._loading] if self._loading else []
                loaded = sorted({*list(self._held), *loading})
                self.manifest.beat(os.getpid(), loaded, dict(self._costs))
        except (OSError, RuntimeError):
            log.warning("could not write the multi-model heartbeat", exc_info=True)

    def _wait(self) -> None:
        if self._wakeup is None:
            self._stop.wait(FOLLOW_INTERVAL)
            return
        with contextlib.suppress(OSError):  # a timeout, or the socket closed by close()
            self._wakeup.settimeout(FOLLOW_INTERVAL)
            while self._wakeup.recv(16):  # drain what queued up: one pass serves them all
                self._wakeup.settimeout(0)

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wait()
            if self._stop.is_set() or not self.manifest.root.is_dir():  # closed, or gone
                return
            try:
                present = {entry.name: entry.url for entry in self.manifest.entries()}
                for name, runtime in list(self._held.items()):
                    if present.get(name) != runtime.model_dir:
                        log.info("model %s left the endpoint: unloading it", name)
                        self.drop(name)
                now = time.monotonic()
                for name, url in present.items():
                    failed = self._failed.get(name)
                    retry = failed is None or failed[0] != url or now >= failed[1]
                    if self.held(name, url) is None and name not in self._pending and retry:
                        self.schedule(name, url)  # this worker's copy, loaded ahead of use
                self._beat()
            except Exception:
                log.exception("multi-model follower")
