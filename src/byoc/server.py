"""Run the app under gunicorn, started from Python (no command line built by hand)."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .core import Service
from .preimport import preimport
from .serving.manifest import Manifest
from .settings import Settings, cpu_count
from .tmpdir import ensure_tmpdir
from .wsgi import HotPath, WSGIApp

__all__ = ["ByocServer", "GunicornLogger", "gunicorn_options", "load_slot", "run", "wsgi_app"]

log = logging.getLogger("byoc.server")


class GunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's messages through the root logger (text or JSON, as byoc's own)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn settings byoc runs with (the benchmark's ceiling uses the same)."""
    options: dict[str, Any] = {
        "bind": [f"{settings.host}:{settings.port}"],
        "workers": settings.workers,
        # gthread: /ping is answered by another thread while a prediction runs, and
        # keep-alive connections from SageMaker's front end are reused; byoc's subclass
        # reads each request whole before a thread gets it (see byoc.worker).
        "worker_class": "byoc.worker.ByocWorker" if settings.worker == "byoc" else "gthread",
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": 5,
        "preload_app": settings.preload,
        "proc_name": "byoc",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": logging.getLevelName(settings.log_level).lower(),
        "logger_class": GunicornLogger,
        # Several gunicorns on one machine must not share ~/.gunicorn/gunicorn.ctl.
        "control_socket_disable": True,
    }
    if os.path.isdir("/dev/shm"):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat file off overlay disks
    return options


class ByocServer(BaseApplication):  # type: ignore[misc]
    """gunicorn application: load the model per worker after fork, or once in the master."""

    def __init__(self, settings: Settings) -> None:
        # Created in the master, shared by the workers it forks.
        self._slots_dir = Path(tempfile.mkdtemp(prefix="byoc-load-"))
        self._mme_dir: Path | None = None
        if settings.multi_model and not settings.mme_state_dir:
            # the manifest every worker follows (see byoc.serving.manifest)
            self._mme_dir = Path(tempfile.mkdtemp(prefix="byoc-mme-"))
            settings = replace(settings, mme_state_dir=str(self._mme_dir))
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        known = self.cfg.settings
        for key, value in gunicorn_options(self.settings).items():
            if key in known:  # older gunicorn lacks e.g. control_socket_disable
                self.cfg.set(key, value)
        self.cfg.set("on_exit", self._on_exit)
        if self.settings.multi_model:
            self.cfg.set("child_exit", self._child_exit)
        preimport(self.settings)  # scikit-learn & co. once, shared by every worker
        # What the master imported (gunicorn, numpy, byoc) stays shared with the workers
        # it forks only while nobody writes to it: keep it out of the cyclic GC's passes
        # (PSS of master + 2 workers on the benchmark: 212.7 -> 205.0 MiB).
        gc.freeze()

    def _on_exit(self, arbiter: Any) -> None:
        shutil.rmtree(self._slots_dir, ignore_errors=True)
        if self._mme_dir is not None:
            shutil.rmtree(self._mme_dir, ignore_errors=True)

    def _child_exit(self, arbiter: Any, worker: Any) -> None:
        # a worker that is gone holds no model: a DELETE waiting on it need not wait
        assert self.settings.mme_state_dir is not None
        Manifest(Path(self.settings.mme_state_dir)).forget_worker(worker.pid)

    def load(self) -> Any:
        service = Service(self.settings)
        if self.settings.preload:
            service.load()  # in the master, before fork: workers share its memory
        else:
            # In each worker, after fork (/ping says 503 meanwhile), one worker per CPU at
            # a time: loading is CPU-bound, and oversubscribed cores only delay the first
            # healthy worker.
            service.start_loading(lambda: load_slot(self._slots_dir, cpu_count()))
        return wsgi_app(self.settings, service)


@contextlib.contextmanager
def load_slot(directory: Path, slots: int, timeout: float = 600.0) -> Iterator[None]:
    """Hold one of ``slots`` file locks shared by the workers (bounded wait)."""
    handles = [open(directory / f"slot-{i}", "a+b") for i in range(slots)]  # noqa: SIM115
    held = None
    deadline = time.monotonic() + timeout
    try:
        while held is None and time.monotonic() < deadline:
            for handle in handles:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                held = handle
                break
            else:
                time.sleep(0.02)
        yield  # past the deadline, load anyway rather than never
    finally:
        for handle in handles:
            handle.close()  # closing releases the lock


class _LazyApp:
    """The Flask app, imported and built on the first request that needs it.

    The hot path answers /ping and /invocations without Flask, so a worker becomes healthy
    without paying Flask's import (about 0.1 s of every cold start).
    """

    def __init__(self, factory: Callable[[], WSGIApp]) -> None:
        self._factory = factory
        self._app: WSGIApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
                app = self._app
        return app(environ, start_response)


def wsgi_app(settings: Settings, service: Service) -> WSGIApp:
    """What gunicorn serves: the hot path in front of a lazily built Flask app."""

    def flask_app() -> WSGIApp:
        from .app import create_app

        return create_app(replace(settings, hot_path=False), service)

    if settings.hot_path:
        return HotPath(service, _LazyApp(flask_app))
    return flask_app()


def run(settings: Settings) -> int:
    ensure_tmpdir()  # a read-only root file system: /dev/shm, or one line saying what to mount
    log.info(
        "byoc serving on %s:%d with %d worker(s) x %d thread(s), model from %s",
        settings.host,
        settings.port,
        settings.workers,
        settings.threads,
        settings.paths.model_dir,
    )
    ByocServer(settings).run()
    return 0
