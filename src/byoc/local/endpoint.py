"""A local endpoint: ``docker run IMAGE serve`` as SageMaker hosts it, and its health check.

The model is mounted at ``/opt/ml/model`` (a directory, or a ``model.tar.gz`` unpacked
first), port 8080 published on 127.0.0.1 (or an internal network with no way out), the
environment an endpoint gets and no AWS credentials; ``Endpoint.wait_healthy`` applies
SageMaker's ping check (200 within 2 s per probe, healthy within the start-up timeout).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .archive import unpack_model
from .engine import DockerError, container_ip, docker

__all__ = [
    "ISOLATED_NETWORK",
    "PING_TIMEOUT",
    "STARTUP_TIMEOUT",
    "STOP_GRACE_SERVE",
    "Endpoint",
    "error_message",
    "http_request",
    "start_endpoint",
]

STARTUP_TIMEOUT = 240.0  # SageMaker's default ContainerStartupHealthCheckTimeoutInSeconds
PING_TIMEOUT = 2.0
STOP_GRACE_SERVE = 30  # SIGTERM, then SIGKILL 30 s later
ISOLATED_NETWORK = "byoc-isolated"
_ENDPOINT_ENV = {
    "SAGEMAKER_BIND_TO_PORT": "8080",
    "SAGEMAKER_SAFE_PORT_RANGE": "20000-20999",
}


def error_message(body: bytes, limit: int = 500) -> str:
    """A container's answer in one line: its JSON ``message`` if it has one, else the body."""
    text = body.decode(errors="replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            text = parsed["message"]
    except ValueError:
        pass
    return text[:limit] or "(empty body)"


def http_request(
    url: str, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Endpoint:
    """A running local endpoint container."""

    name: str
    url: str
    model_dir: Path
    started: float
    healthy_after: float | None = None
    cleanup: list[Path] = field(default_factory=list)

    def logs(self, tail: int = 50) -> str:
        result = docker("logs", "--tail", str(tail), self.name, check=False)
        return (result.stdout + result.stderr).strip()

    def running(self) -> bool:
        result = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def exit_code(self) -> int | None:
        result = docker("inspect", "-f", "{{.State.ExitCode}}", self.name, check=False)
        return int(result.stdout.strip()) if result.stdout.strip().lstrip("-").isdigit() else None

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Poll /ping like SageMaker: 200 within 2 s per probe, healthy within ``timeout``."""
        deadline = self.started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running():
                raise DockerError(
                    f"the container exited with code {self.exit_code()} before passing the "
                    f"ping health check. Last log lines:\n{self.logs()}"
                )
            try:
                status, body = http_request(self.url + "/ping", PING_TIMEOUT)
                if status == 200:
                    self.healthy_after = time.monotonic() - self.started
                    return self.healthy_after
                last = f"/ping answered {status} {body[:200].decode(errors='replace')}"
            except (OSError, TimeoutError) as exc:
                last = f"/ping: {exc}"
            time.sleep(0.25)
        raise DockerError(
            f"the container did not pass the ping health check within {timeout:g}s "
            f"(last: {last}). Last log lines:\n{self.logs()}"
        )

    def invoke(
        self, body: bytes, content_type: str, accept: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        return http_request(self.url + "/invocations", 60, body, headers)

    def stop(self, grace: int = STOP_GRACE_SERVE) -> int | None:
        docker("stop", "-t", str(grace), self.name, check=False, timeout=grace + 30)
        code = self.exit_code()
        docker("rm", "-f", self.name, check=False)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        return code


def _ensure_isolated_network() -> str:
    if docker("network", "inspect", ISOLATED_NETWORK, check=False).returncode != 0:
        docker("network", "create", "--internal", ISOLATED_NETWORK, check=False)
    return ISOLATED_NETWORK


def start_endpoint(
    image: str,
    model: Path,
    port: int = 8080,
    env: dict[str, str] | None = None,
    isolated: bool = False,
    name: str | None = None,
    command: Sequence[str] = ("serve",),
    mounts: dict[Path, str] | None = None,
    docker_args: Sequence[str] = (),
) -> Endpoint:
    """``docker run IMAGE serve`` as an endpoint would; returns before it is healthy.

    ``mounts`` adds read-only host directories (host path → container path);
    ``docker_args`` more ``docker run`` options (``--read-only``, ``--cap-drop ALL`` ...).
    """
    cleanup: list[Path] = []
    if model.is_file():
        model = unpack_model(model)
        cleanup.append(model)
    if not model.is_dir():
        raise DockerError(f"model {model} is neither a directory nor a model.tar.gz")
    name = name or f"byoc-serve-{uuid.uuid4().hex[:8]}"
    args = ["run", "-d", "--name", name, "-v", f"{model.resolve()}:/opt/ml/model:ro"]
    for host, target in (mounts or {}).items():
        args += ["-v", f"{host.resolve()}:{target}:ro"]
    if isolated:
        args += ["--network", _ensure_isolated_network()]
    else:
        args += ["-p", f"127.0.0.1:{port}:8080"]
    for key, value in {**_ENDPOINT_ENV, **(env or {})}.items():
        args += ["-e", f"{key}={value}"]
    started = time.monotonic()
    docker(*args, *docker_args, image, *command)
    url = (
        f"http://{container_ip(name, ISOLATED_NETWORK)}:8080"
        if isolated
        else f"http://127.0.0.1:{port}"
    )
    return Endpoint(name, url, model, started, cleanup=cleanup)
