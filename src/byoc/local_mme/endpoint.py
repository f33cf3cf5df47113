"""A multi-model endpoint container, started and found again.

:func:`start_multi_model_endpoint` is ``local.start_endpoint`` with
``SAGEMAKER_MULTI_MODEL=true``, a fresh host directory mounted read-only at
``/opt/ml/models`` (where the front end unpacks models) and an empty ``/opt/ml/model``.
Its health check is SageMaker's for such an endpoint: ``/ping``, then ``GET /models``
answering 200. :func:`attach` finds a running one by container name or by URL (published
port or container address) and returns its URL and model store, read from the mount.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..local import (
    PING_TIMEOUT,
    STARTUP_TIMEOUT,
    DockerError,
    Endpoint,
    docker,
    http_request,
    start_endpoint,
)
from .store import CONTAINER_ROOT, ModelStore

__all__ = ["MultiModelEndpoint", "attach", "start_multi_model_endpoint"]


@dataclass
class MultiModelEndpoint(Endpoint):
    store: ModelStore | None = None

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> float:
        seconds = super().wait_healthy(timeout)
        status, body = http_request(self.url + "/models", PING_TIMEOUT)
        if status != 200:
            raise DockerError(
                f"/ping is healthy but GET /models answered {status} "
                f"{body[:200].decode(errors='replace')}: SageMaker's health check of a "
                f"multi-model endpoint calls it. Last log lines:\n{self.logs()}"
            )
        return seconds


def start_multi_model_endpoint(
    image: str,
    archives: Path,
    port: int = 8080,
    env: dict[str, str] | None = None,
    isolated: bool = False,
    name: str | None = None,
) -> MultiModelEndpoint:
    """``docker run IMAGE serve`` as a multi-model endpoint over ``archives`` (``*.tar.gz``)."""
    if not archives.is_dir():
        raise DockerError(f"--models {archives} is not a directory of model archives")
    root = Path(tempfile.mkdtemp(prefix="byoc-local-mme-"))
    try:
        root.chmod(0o755)
        store = ModelStore.create(root / "models", archives)
        (root / "model").mkdir()  # a multi-model endpoint has no single model
        base = start_endpoint(
            image, root / "model", port, {**(env or {}), "SAGEMAKER_MULTI_MODEL": "true"},
            isolated, name, mounts={store.root: CONTAINER_ROOT},
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return MultiModelEndpoint(
        base.name, base.url, base.model_dir, base.started, cleanup=[*base.cleanup, root],
        store=store,
    )  # fmt: skip


def _normalise(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    host = "127.0.0.1" if host in ("localhost", "0.0.0.0") else host
    return f"{parts.scheme or 'http'}://{host}:{parts.port or 80}"


def _urls(info: dict[str, Any]) -> list[str]:
    settings = info.get("NetworkSettings") or {}
    published = (settings.get("Ports") or {}).get("8080/tcp") or []
    urls = [f"http://{p.get('HostIp') or '127.0.0.1'}:{p['HostPort']}" for p in published]
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            urls.append(f"http://{network['IPAddress']}:8080")
    return [_normalise(url) for url in urls]


def _models_source(info: dict[str, Any]) -> str | None:
    for mount in info.get("Mounts") or []:
        if mount.get("Destination") == CONTAINER_ROOT:
            return str(mount["Source"])
    return None


def attach(name: str | None = None, url: str | None = None) -> tuple[str, ModelStore]:
    """The URL and store of a running ``byoc local serve --models`` container (by name or URL)."""
    if name:
        candidates = [name]
    else:
        listed = docker("ps", "-q", "--filter", f"volume={CONTAINER_ROOT}").stdout.split()
        candidates = listed
    wanted = _normalise(url) if url else None
    for candidate in candidates:
        inspected = docker("inspect", candidate, check=False)
        if inspected.returncode != 0:
            raise DockerError(f"no container {candidate}")
        info = json.loads(inspected.stdout)[0]
        urls = _urls(info)
        if wanted is not None and wanted not in urls:
            continue
        label = f"container {info['Name'].lstrip('/')}"
        if not (info.get("State") or {}).get("Running"):
            raise DockerError(f"{label} is not running")
        source = _models_source(info)
        store = ModelStore(Path(source)) if source else None
        if store is None or not store.exists() or not urls:
            raise DockerError(
                f"{label} is not a multi-model endpoint started by `byoc local serve --models`"
            )
        return wanted or urls[0], store
    raise DockerError(
        f"no running `byoc local serve --models` container answers on {url}; name it with --name"
    )
