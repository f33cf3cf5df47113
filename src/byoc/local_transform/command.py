"""The click command ``byoc local transform`` (registered in the ``local`` group)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

__all__ = ["transform_command"]

_PATH = click.Path(path_type=Path)


@click.command("transform")
@click.argument("image", required=False)
@click.option(
    "--model",
    type=click.Path(exists=True, path_type=Path),
    default=Path("local_test/test_dir/model"),
    show_default=True,
    help="Model directory or model.tar.gz, mounted at /opt/ml/model.",
)
@click.option("--input", "input_path", type=_PATH, required=True, help="A file or a folder.")
@click.option("--output", type=_PATH, required=True, help="Folder for <relative path>.out.")
@click.option("--content-type", default="text/csv", show_default=True)
@click.option("--accept", help="Accept header for every request (default: none sent).")
@click.option(
    "--split-type",
    type=click.Choice(["None", "Line", "RecordIO", "TFRecord"]),
    default="Line",
    show_default=True,
)
@click.option(
    "--batch-strategy",
    type=click.Choice(["SingleRecord", "MultiRecord"]),
    help="Default: the container's /execution-parameters, else MultiRecord.",
)
@click.option("--max-payload", type=int, help="MaxPayloadInMB, 0-100 (0: chunked, no limit).")
@click.option("--max-concurrent", type=int, help="MaxConcurrentTransforms (default 1).")
@click.option(
    "--assemble-with", type=click.Choice(["None", "Line"]), default="Line", show_default=True
)
@click.option(
    "--join-source", type=click.Choice(["None", "Input"]), default="None", show_default=True
)
@click.option("--input-filter", help="JSONPath, e.g. '$[1:]'.")
@click.option("--output-filter", help="JSONPath, e.g. '$[0,-1]'.")
@click.option("--invocation-timeout", type=float, default=600.0, show_default=True)
@click.option("--max-retries", type=int, default=3, show_default=True, help="For 5xx, 0-3.")
@click.option("--env", "env", multiple=True, help="KEY=VALUE, as the job's Environment.")
@click.option("--network", is_flag=True, help="Allow outside network (isolated by default).")
@click.option("--startup-timeout", type=float, default=240.0, show_default=True)
def transform_command(
    image: str | None,
    model: Path,
    input_path: Path,
    output: Path,
    env: tuple[str, ...],
    network: bool,
    startup_timeout: float,
    **settings: Any,
) -> None:
    """Run a SageMaker batch transform job over local files with IMAGE (`serve`)."""
    from ..local import DockerError, default_image, docker_available, parse_env
    from .config import ConfigError, JobOptions
    from .job import run_job

    settings["max_payload_mb"] = settings.pop("max_payload")
    options = JobOptions(**settings)
    try:
        options.processing()
        environment = parse_env(env)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc), 2)
    problem = docker_available()
    if problem:
        _fail(f"Docker is needed for this: {problem}", 3)
    image = image or default_image()
    try:
        outcome = run_job(
            image, model, input_path, output, options, environment, network, startup_timeout,
            click.echo,
        )  # fmt: skip
    except ConfigError as exc:
        _fail(str(exc), 2)
    except DockerError as exc:
        _fail(f"the transform job would fail: {exc}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    rate = outcome.records / outcome.seconds if outcome.seconds else 0.0
    click.echo(
        f"TransformJobStatus: {outcome.status} ({len(outcome.files)} files, "
        f"{outcome.records} records transformed in {outcome.seconds:.2f}s: {rate:.1f} records/s)"
    )
    if outcome.failure_reason:
        click.echo(f"FailureReason: {outcome.failure_reason}", err=True)
        sys.exit(1)
    click.echo(f"output: {output}")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"byoc: {message}", err=True)
    sys.exit(code)
