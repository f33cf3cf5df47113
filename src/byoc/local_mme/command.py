"""The click command ``byoc local invoke`` (registered in the ``local`` group)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

__all__ = ["invoke_command"]

_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".npy": "application/x-npy",
}


@click.command("invoke")
@click.argument("payload", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--target-model",
    "target",
    required=True,
    help="The archive's path under `local serve --models DIR`, e.g. a/b/m1.tar.gz.",
)
@click.option("--url", help="The endpoint (default: BYOC_URL, else http://127.0.0.1:8080).")
@click.option("--name", help="The endpoint's container, instead of --url.")
@click.option("--content-type", help="Default: by PAYLOAD's suffix, else text/csv.")
@click.option("--accept", help="Accept header (default: none sent).")
def invoke_command(
    payload: str,
    target: str,
    url: str | None,
    name: str | None,
    content_type: str | None,
    accept: str | None,
) -> None:
    """InvokeEndpoint with a TargetModel on a local multi-model endpoint, as SageMaker would.

    Unpacks and loads the model first if needed (unloading the least recently used model on
    a 507); prints the answer to stdout and its status to stderr.
    """
    from ..local import DockerError, docker_available
    from .api import ApiError, ModelsApi
    from .endpoint import attach
    from .frontend import LoadFailed, invoke
    from .store import StoreError

    if url and name:
        _fail("--url and --name are exclusive", 2)
    problem = docker_available()
    if problem:
        _fail(f"Docker is needed for this: {problem}", 3)
    if not name:
        url = url or os.environ.get("BYOC_URL", "http://127.0.0.1:8080")
    try:
        endpoint_url, store = attach(name, url)
    except DockerError as exc:
        _fail(str(exc), 1)
    body = sys.stdin.buffer.read() if payload == "-" else Path(payload).read_bytes()
    content_type = content_type or _TYPES.get(Path(payload).suffix, "text/csv")
    try:
        reply = invoke(store, ModelsApi(endpoint_url), target, body, content_type, accept, say)
    except StoreError as exc:
        _fail(str(exc), 2)
    except LoadFailed as exc:
        say(str(exc))
        reply = exc.reply
    except ApiError as exc:
        _fail(f"the container broke the multi-model contract: {exc}", 1)
    except OSError as exc:
        _fail(f"no answer from {endpoint_url}: {exc}", 1)
    sys.stdout.buffer.write(reply.body)
    sys.stdout.flush()
    click.echo(f"HTTP {reply.status}", err=True)
    sys.exit(0 if reply.ok else 1)


def say(message: str) -> None:
    click.echo(f"byoc: {message}", err=True)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"byoc: {message}", err=True)
    sys.exit(code)
