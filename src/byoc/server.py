"""Run the app under gunicorn, started from Python (no command line built by hand)."""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .app import create_app
from .core import Service
from .settings import Settings

__all__ = ["ByocServer", "GunicornLogger", "gunicorn_options", "run"]

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
        # keep-alive connections from SageMaker's front end are reused.
        "worker_class": "gthread",
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
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        known = self.cfg.settings
        for key, value in gunicorn_options(self.settings).items():
            if key in known:  # older gunicorn lacks e.g. control_socket_disable
                self.cfg.set(key, value)

    def load(self) -> Any:
        service = Service(self.settings)
        if self.settings.preload:
            service.load()  # in the master, before fork: workers share its memory
        else:
            service.start_loading()  # in each worker, after fork: /ping says 503 meanwhile
        return create_app(self.settings, service)


def run(settings: Settings) -> int:
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
