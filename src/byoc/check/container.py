"""One container of the image under test, started the way a rule needs it.

``docker run -d`` with the model read-only at ``/opt/ml/model`` and the variations the
rules ask for (``--network none``, ``--read-only``, ``--tmpfs``, ``--user``, environment,
extra mounts). The container is reached at its bridge address, never through a published
port: Docker's port proxy accepts a connection even when nothing listens inside, which
would hide the very thing the TCP rule measures. A ``--network none`` container is
reached from inside its network namespace (see :mod:`byoc.check.probe`).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..local import DockerError, container_ip, docker
from .probe import Target

__all__ = ["ISOLATED_NETWORK", "Container", "RunSpec", "isolated_network"]

ISOLATED_NETWORK = "byoc-isolated"  # internal: no route out (the one byoc.local uses)


def isolated_network() -> str:
    if docker("network", "inspect", ISOLATED_NETWORK, check=False).returncode != 0:
        docker("network", "create", "--internal", ISOLATED_NETWORK, check=False)
    return ISOLATED_NETWORK


@dataclass(frozen=True)
class RunSpec:
    model: Path
    port: int = 8080
    command: Sequence[str] = ("serve",)
    env: dict[str, str] = field(default_factory=dict)
    network: str | None = None  # None: Docker's default bridge; "none"; a network's name
    read_only: bool = False
    tmpfs: Sequence[str] = ()
    user: str | None = None
    mounts: Sequence[tuple[Path, str]] = ()  # read-only host directories
    entrypoint: str | None = None
    label: str = "serve"


@dataclass
class Container:
    name: str
    image: str
    spec: RunSpec
    started: float
    target: Target
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, image: str, spec: RunSpec) -> Container:
        name = f"byoc-check-{spec.label}-{uuid.uuid4().hex[:6]}"
        args = ["run", "-d", "--name", name, "-v", f"{spec.model.resolve()}:/opt/ml/model:ro"]
        for host, inside in spec.mounts:
            args += ["-v", f"{host.resolve()}:{inside}:ro"]
        if spec.network:
            args += ["--network", spec.network]
        if spec.read_only:
            args.append("--read-only")
        for path in spec.tmpfs:
            args += ["--tmpfs", path]
        if spec.user:
            args += ["--user", spec.user]
        if spec.entrypoint is not None:
            args += ["--entrypoint", spec.entrypoint]
        for key, value in spec.env.items():
            args += ["-e", f"{key}={value}"]
        docker(*args, image, *spec.command)
        started = time.monotonic()
        try:
            target = cls._target(name, spec)
        except DockerError:
            docker("rm", "-f", name, check=False)
            raise
        return cls(name, image, spec, started, target)

    @staticmethod
    def _target(name: str, spec: RunSpec) -> Target:
        if spec.network == "none":
            return Target("127.0.0.1", spec.port, netns_pid=_pid(name))
        if spec.network and spec.network.startswith("container:"):  # another's namespace
            return Target(container_ip(spec.network.partition(":")[2]), spec.port)
        return Target(container_ip(name, spec.network), spec.port)

    def at_port(self, port: int) -> Target:
        return Target(self.target.host, port, self.target.netns_pid)

    def running(self) -> bool:
        result = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def exit_code(self) -> int | None:
        result = docker("inspect", "-f", "{{.State.ExitCode}}", self.name, check=False)
        text = result.stdout.strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def pid(self) -> int:
        return _pid(self.name)

    def logs(self, tail: int = 5) -> str:
        result = docker("logs", "--tail", str(tail), self.name, check=False)
        return (result.stdout + result.stderr).strip()

    def last_log_line(self) -> str:
        lines = self.logs(3).splitlines()
        return lines[-1][:200] if lines else "(no log output)"

    def stop(self, grace: int) -> tuple[float, int | None]:
        """``docker stop -t grace``: seconds until it exited, and its exit code."""
        started = time.monotonic()
        docker("stop", "-t", str(grace), self.name, check=False, timeout=grace + 60)
        return time.monotonic() - started, self.exit_code()

    def remove(self) -> None:
        self.target.close()
        docker("rm", "-f", self.name, check=False)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _pid(name: str) -> int:
    text = docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
    if not text.isdigit() or text == "0":
        raise DockerError(f"container {name} is not running (no process to probe)")
    if not os.access(f"/proc/{text}/ns/net", os.R_OK):
        raise DockerError(
            "probing a --network none container needs root on the Docker host "
            "(its network namespace is joined with setns)"
        )
    return int(text)
