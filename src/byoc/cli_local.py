"""``byoc local``: run an image with Docker exactly as SageMaker would (serve, train; the
transform and invoke commands live with their emulators)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .local_mme.command import invoke_command
from .local_transform.command import transform_command

__all__ = ["local"]


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"byoc: {message}", err=True)
    sys.exit(code)


@click.group()
def local() -> None:
    """Run an image with Docker exactly as SageMaker would (serve, train, transform)."""


local.add_command(transform_command)
local.add_command(invoke_command)


def _docker_or_exit() -> None:
    from .local import docker_available

    problem = docker_available()
    if problem:
        _fail(f"Docker is needed for this: {problem}", 3)


@local.command("serve")
@click.argument("image", required=False)
@click.option(
    "--model",
    "model",
    type=click.Path(exists=True, path_type=Path),
    help="Model directory or model.tar.gz, mounted at /opt/ml/model "
    "[default: local_test/test_dir/model].",
)
@click.option(
    "--models",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A multi-model endpoint over this folder of *.tar.gz (see `local invoke`).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--env", "env", multiple=True, help="KEY=VALUE, as CreateModel's Environment.")
@click.option("--no-network", is_flag=True, help="No outside network (network isolation).")
@click.option("--startup-timeout", type=float, default=240.0, show_default=True)
@click.option("--detach", is_flag=True, help="Leave it running once healthy.")
@click.option("--name", help="Container name (an existing container of that name is replaced).")
def local_serve(
    image: str | None,
    model: Path | None,
    models: Path | None,
    port: int,
    env: tuple[str, ...],
    no_network: bool,
    startup_timeout: float,
    detach: bool,
    name: str | None,
) -> None:
    """Serve IMAGE as a SageMaker endpoint: health check, then answer until Ctrl-C."""
    from .local import DockerError, Endpoint, default_image, docker, parse_env, start_endpoint
    from .local_mme import start_multi_model_endpoint

    if models and model:
        _fail("--model and --models are exclusive (one model, or a multi-model endpoint)")
    _docker_or_exit()
    image = image or default_image()
    try:
        if name:
            docker("rm", "-f", name, check=False)
        endpoint: Endpoint
        if models:
            endpoint = start_multi_model_endpoint(
                image, models, port, parse_env(env), isolated=no_network, name=name
            )
        else:
            model = model or Path("local_test/test_dir/model")
            endpoint = start_endpoint(
                image, model, port, parse_env(env), isolated=no_network, name=name
            )
    except (DockerError, ValueError) as exc:
        _fail(str(exc), 1)
    try:
        seconds = endpoint.wait_healthy(startup_timeout)
    except DockerError as exc:
        endpoint.stop()
        _fail(f"endpoint creation would fail: {exc}", 1)
    click.echo(
        f"{image} is healthy after {seconds:.2f}s on {endpoint.url} (container {endpoint.name})"
    )
    click.echo(
        f"invoke: byoc local invoke --name {endpoint.name} --target-model REL PAYLOAD"
        if models
        else f"predict: BYOC_URL={endpoint.url} ./local_test/predict.sh PAYLOAD [TYPE] [ACCEPT]"
    )
    if detach:
        click.echo(f"stop it with: docker stop {endpoint.name}")
        return
    try:
        while endpoint.running():
            time.sleep(0.5)
        click.echo(
            f"the container exited with code {endpoint.exit_code()}:\n{endpoint.logs()}", err=True
        )
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("stopping (SIGTERM)...")
    finally:
        code = endpoint.stop()
    click.echo(f"stopped, exit code {code}")


@local.command("train")
@click.argument("image", required=False)
@click.option(
    "--job",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("local_test/test_dir"),
    show_default=True,
    help="An /opt/ml tree: input/config and input/data are read, model/ and output/ written.",
)
@click.option("--hosts", type=click.IntRange(1, 16), default=1, show_default=True)
@click.option("--env", "env", multiple=True, help="KEY=VALUE for the training container.")
@click.option("--max-runtime", type=float, help="Seconds before SIGTERM (StopTrainingJob).")
@click.option(
    "--stop-grace",
    type=int,
    default=120,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)
@click.option("--no-network", is_flag=True, help="No outside network (network isolation).")
def local_train(
    image: str | None,
    job: Path,
    hosts: int,
    env: tuple[str, ...],
    max_runtime: float | None,
    stop_grace: int,
    no_network: bool,
) -> None:
    """Train with IMAGE as a SageMaker training job would; model.tar.gz lands in JOB/output."""
    from .local import DockerError, default_image, parse_env
    from .local import train as run_train

    _docker_or_exit()
    image = image or default_image()
    try:
        result = run_train(
            image, job, hosts, parse_env(env), max_runtime, stop_grace, not no_network
        )
    except (DockerError, ValueError) as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    status = "Stopped" if result.stopped else ("Completed" if result.exit_code == 0 else "Failed")
    click.echo(f"TrainingJobStatus: {status} (exit code {result.exit_code}, {result.seconds:.1f}s)")
    if result.model_archive:
        click.echo(f"ModelArtifacts: {result.model_archive}")
    if result.failure_reason:
        click.echo(f"FailureReason: {result.failure_reason}")
        sys.exit(result.exit_code or 1)
