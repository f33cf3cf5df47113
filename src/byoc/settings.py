"""Serving settings: one typed, validated object read from the environment.

SageMaker's own variables (``SAGEMAKER_*``) keep their meaning; byoc's own knobs are
``BYOC_*``. Nothing here is read at import time: call :meth:`Settings.from_env`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .paths import DEFAULT_ROOT, MLPaths

__all__ = ["Settings", "cpu_count"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# Threads per worker. With a thread for each of the front end's connections, requests
# wait for the model in arrival order (FairSemaphore) instead of also queueing for a
# thread: measured with 8 connections on one core, p99 6.6-7.3 ms with 4 threads,
# 4.2-4.3 ms with 8, for the same throughput.
DEFAULT_THREADS = 8


def cpu_count() -> int:
    """CPUs this process may run on (honours taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={raw!r}: must be between {lo} and {hi}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: must be a number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={raw!r}: must be between {lo:g} and {hi:g}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: must be true or false")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}={raw!r}: must be one of {', '.join(choices)}")
    return value


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _preimport(env: Mapping[str, str]) -> str:
    raw = (env.get("BYOC_PREIMPORT") or "").strip()
    if raw.lower() in ("", "auto", "off"):
        return raw.lower() or "auto"
    names = [name.strip() for name in raw.split(",") if name.strip()]
    bad = [name for name in names if not _MODULE.fullmatch(name)]
    if bad or not names:
        raise SettingsError(
            f"BYOC_PREIMPORT={raw!r}: must be auto, off or module names separated by commas"
        )
    return ",".join(names)


def _log_level(env: Mapping[str, str]) -> int:
    for name in ("BYOC_LOG_LEVEL", "SAGEMAKER_CONTAINER_LOG_LEVEL"):
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            continue
        value = raw.strip()
        if value.isdigit():
            return int(value)
        level = logging.getLevelName(value.upper())
        if isinstance(level, int):
            return level
        raise SettingsError(f"{name}={raw!r}: must be a level name (INFO, DEBUG, ...) or number")
    return logging.INFO


def _port_range(env: Mapping[str, str]) -> tuple[int, int] | None:
    raw = env.get("SAGEMAKER_SAFE_PORT_RANGE")
    if raw is None or raw.strip() == "":
        return None
    try:
        lo_s, hi_s = raw.strip().split("-", 1)
        lo, hi = int(lo_s), int(hi_s)
    except ValueError:
        raise SettingsError(
            f"SAGEMAKER_SAFE_PORT_RANGE={raw!r}: must look like 20000-20999"
        ) from None
    if not 1 <= lo <= hi <= 65535:
        raise SettingsError(f"SAGEMAKER_SAFE_PORT_RANGE={raw!r}: not a valid port range")
    return lo, hi


@dataclass(frozen=True)
class Settings:
    """Everything the serving runtime can be told. Defaults are SageMaker's."""

    paths: MLPaths = field(default_factory=MLPaths)
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    threads: int = DEFAULT_THREADS
    timeout: int = 60
    graceful_timeout: int = 25
    max_payload_bytes: int = 6 * 1024 * 1024
    # A request (head and body) must arrive within this many seconds of its first byte;
    # until it has, it is read by the worker's event loop, not by a thread.
    request_read_timeout: float = 30.0
    worker: str = "byoc"  # BYOC_WORKER=gthread: gunicorn's own worker (threads read requests)
    default_accept: str | None = None
    # With no Accept: "json" answers in the default accept (the AWS toolkit's behaviour),
    # "request" in the request's own type when a codec encodes it (byoc's former default).
    accept_default: str = "json"
    handler: str | None = None
    program: str = "inference.py"
    preload: bool = False
    preimport: str = "auto"  # fork-safe libraries the master imports before fork
    handler_concurrency: int = 1
    max_batch_size: int = 1
    max_batch_delay_ms: float = 2.0
    hot_path: bool = True
    access_log: bool = True
    log_format: str = "text"
    log_level: int = logging.INFO
    batch: bool = False
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 0  # 0: byoc chooses (workers x handler concurrency)
    multi_model: bool = False
    mme_state_dir: str | None = None  # the manifest directory (the server makes one)
    mme_max_models: int = 0  # 0: no count limit, only the memory budget
    mme_memory_budget_mb: float | None = None  # None: 90 % of the cgroup's limit
    mme_evict: bool = False  # unload the least recently used model instead of a 507
    safe_port_range: tuple[int, int] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read and validate the environment; raise :class:`SettingsError` naming the culprit."""
        e = os.environ if env is None else env
        timeout = _int(e, "SAGEMAKER_MODEL_SERVER_TIMEOUT", 60, 1, 86400)
        timeout = _int(e, "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS", timeout, 1, 86400)
        payload_mb = _float(e, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6.0, 0.0, 1024.0)
        # 0: batch transform streams each file as one chunked body "with no size limit";
        # byoc still bounds what it holds, by BYOC_MAX_STREAMED_PAYLOAD_IN_MB.
        payload_mb = payload_mb or _float(
            e, "BYOC_MAX_STREAMED_PAYLOAD_IN_MB", 1024.0, 1.0, 65536.0
        )
        strategy = _choice(
            e, "SAGEMAKER_BATCH_STRATEGY", "multi_record", ("multi_record", "single_record")
        )
        batch_size = _int(e, "BYOC_MAX_BATCH_SIZE", 1, 1, 1024)
        default_accept = (e.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or "").strip() or None
        if default_accept is not None and "/" not in default_accept:
            raise SettingsError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={default_accept!r}: must be a media type"
            )
        settings = cls(
            paths=MLPaths(Path(e.get("SAGEMAKER_BASE_DIR") or DEFAULT_ROOT)),
            host=(e.get("BYOC_HOST") or "0.0.0.0").strip(),
            port=_int(e, "SAGEMAKER_BIND_TO_PORT", 8080, 1, 65535),
            workers=_int(e, "SAGEMAKER_MODEL_SERVER_WORKERS", cpu_count(), 1, 512),
            # A batch cannot hold more requests than a worker has threads.
            threads=_int(e, "BYOC_THREADS", max(DEFAULT_THREADS, batch_size), 1, 1024),
            timeout=timeout,
            graceful_timeout=_int(e, "BYOC_GRACEFUL_TIMEOUT", 25, 1, 3600),
            max_payload_bytes=int(payload_mb * 1024 * 1024),
            request_read_timeout=_float(e, "BYOC_REQUEST_READ_TIMEOUT", 30.0, 0.1, 3600.0),
            worker=_choice(e, "BYOC_WORKER", "byoc", ("byoc", "gthread")),
            default_accept=default_accept,
            accept_default=_choice(e, "BYOC_ACCEPT_DEFAULT", "json", ("json", "request")),
            handler=(e.get("BYOC_HANDLER") or "").strip() or None,
            program=(e.get("SAGEMAKER_PROGRAM") or "inference.py").strip(),
            preload=_bool(e, "BYOC_PRELOAD_MODEL", False),
            preimport=_preimport(e),
            handler_concurrency=_int(e, "BYOC_HANDLER_CONCURRENCY", 1, 1, 1024),
            max_batch_size=batch_size,
            max_batch_delay_ms=_float(e, "BYOC_MAX_BATCH_DELAY_MS", 2.0, 0.0, 10000.0),
            hot_path=_bool(e, "BYOC_HOT_PATH", True),
            access_log=_bool(e, "BYOC_ACCESS_LOG", True),
            log_format=_choice(e, "BYOC_LOG_FORMAT", "text", ("text", "json")),
            log_level=_log_level(e),
            batch=_bool(e, "SAGEMAKER_BATCH", False),
            batch_strategy=strategy.upper(),
            max_concurrent_transforms=_int(e, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", 0, 0, 1024),
            multi_model=_bool(e, "SAGEMAKER_MULTI_MODEL", False),
            mme_state_dir=(e.get("BYOC_MME_STATE_DIR") or "").strip() or None,
            mme_max_models=_int(e, "BYOC_MME_MAX_MODELS", 0, 0, 1_000_000),
            mme_memory_budget_mb=_float(e, "BYOC_MME_MEMORY_BUDGET_MB", 0.0, 0.0, 1e9) or None,
            mme_evict=_choice(e, "BYOC_MME_EVICTION", "off", ("off", "lru")) == "lru",
            safe_port_range=_port_range(e),
        )
        return replace(settings, **overrides) if overrides else settings
