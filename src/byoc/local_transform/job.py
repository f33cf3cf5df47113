"""A batch transform job, locally: the container as an endpoint, then the files through it.

``run_job`` validates everything before it starts anything, starts the image with
``serve`` (network isolated unless asked), waits for ``/ping`` as SageMaker does, asks
``/execution-parameters`` once, transforms the files and stops the container.
``transform_with`` does the part after start-up against any healthy container's URL.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ..local import STARTUP_TIMEOUT, http_request, start_endpoint
from .client import Invoker
from .config import ConfigError, JobOptions, container_parameters, resolve
from .runner import JobOutcome, Runner, input_files

__all__ = ["run_job", "transform_with"]


def run_job(
    image: str,
    model: Path,
    input_path: Path,
    output: Path,
    options: JobOptions,
    env: dict[str, str] | None = None,
    network: bool = False,
    startup_timeout: float = STARTUP_TIMEOUT,
    say: Callable[[str], None] = print,
) -> JobOutcome:
    """Raises :class:`ConfigError` (nothing started) or ``DockerError`` (start-up failed)."""
    options.processing()
    files = _files(input_path, output)
    endpoint = start_endpoint(
        image,
        model,
        port=_free_port() if network else 8080,
        env={**(env or {}), **options.environment()},
        isolated=not network,
    )
    try:
        healthy = endpoint.wait_healthy(startup_timeout)
        say(f"{image} is healthy after {healthy:.2f}s (container {endpoint.name})")
        return transform_with(endpoint.url, files, output, options, say)
    finally:
        endpoint.stop()


def transform_with(
    url: str,
    files: list[tuple[Path, str]],
    output: Path,
    options: JobOptions,
    say: Callable[[str], None] = print,
) -> JobOutcome:
    processing = options.processing()
    try:
        status, body = http_request(url + "/execution-parameters", 10)
    except OSError as exc:
        status, body = 0, str(exc).encode()
    asked = container_parameters(status, body)
    resolved = resolve(options, asked)
    opinion = f"answered {asked}" if asked is not None else f"no opinion (status {status})"
    say(f"/execution-parameters: {opinion}; {resolved.describe()}")
    invoker = Invoker(
        url,
        options.content_type,
        options.accept,
        options.invocation_timeout,
        options.max_retries,
        chunked=resolved.max_payload_mb == 0,
    )
    try:
        return Runner(invoker, options, processing, resolved, say).run(files, output)
    finally:
        invoker.close()


def _files(input_path: Path, output: Path) -> list[tuple[Path, str]]:
    if not input_path.exists():
        raise ConfigError(f"input {input_path} does not exist")
    files = input_files(input_path)
    if not files:
        raise ConfigError(f"input {input_path} holds no files")
    if input_path.is_dir() and output.resolve().is_relative_to(input_path.resolve()):
        raise ConfigError(f"output {output} is inside input {input_path}: use another folder")
    return files


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
