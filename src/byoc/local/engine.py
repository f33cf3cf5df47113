"""The Docker engine, driven through its command line: run and inspect helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

__all__ = [
    "DockerError",
    "container_ip",
    "default_image",
    "docker",
    "docker_available",
    "parse_env",
]


class DockerError(RuntimeError):
    """Docker is missing, or a docker command failed; the message says which."""


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker") is None:
        raise DockerError("the docker command is not installed")
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result


def docker_available() -> str | None:
    """``None`` when a Docker daemon answers, else why not."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        result = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, check=False, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer `docker info` within 30 s"
    if result.returncode != 0:
        return "the Docker daemon is not running (" + result.stderr.strip().splitlines()[-1] + ")"
    return None


def container_ip(name: str, network: str | None = None) -> str:
    template = (
        f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
        if network
        else "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    )
    ip = docker("inspect", "-f", template, name).stdout.split()
    if not ip:
        raise DockerError(f"container {name} has no IP address")
    return ip[0]


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def default_image() -> str:
    return os.environ.get("BYOC_IMAGE", "byoc:latest")
