"""``byoc`` command line: ``serve`` and ``train`` (what SageMaker runs), and ``demo``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .cli_check import check_command
from .cli_init import init_command
from .errors import SettingsError
from .local_mme.command import invoke_command
from .local_transform.command import transform_command
from .paths import MLPaths
from .settings import Settings

__all__ = ["main"]


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"byoc: {message}", err=True)
    sys.exit(code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus command-line overrides, or exit 2 with the reason."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        _fail(f"invalid setting: {exc}")
    given = {key: value for key, value in overrides.items() if value is not None}
    if "ml_root" in given:
        given["paths"] = MLPaths(Path(given.pop("ml_root")))
    return replace(settings, **given)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """byoc: SageMaker-compatible model containers."""


@cli.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Default: SAGEMAKER_BIND_TO_PORT or 8080."
)
@click.option("--host", help="Default: BYOC_HOST or 0.0.0.0.")
@click.option("--workers", type=click.IntRange(1, 512), help="Default: one per CPU.")
@click.option("--handler", help="Handler file or module (default: see docs).")
@click.option("--ml-root", type=click.Path(file_okay=False), help="Instead of /opt/ml.")
@click.option("--preload/--no-preload", default=None, help="Load the model once, before fork.")
def serve(**options: Any) -> None:
    """Serve /ping and /invocations with gunicorn (what `docker run IMAGE serve` runs)."""
    from .logs import configure
    from .server import run

    settings = load_settings(**options)
    configure(settings.log_level, settings.log_format)
    sys.exit(run(settings))


@cli.command()
@click.option("--ml-root", type=click.Path(file_okay=False), help="Instead of /opt/ml.")
def train(ml_root: str | None) -> None:
    """Run the training program under the /opt/ml contract (`docker run IMAGE train`)."""
    from .logs import configure
    from .training import run_training

    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    paths = MLPaths(Path(ml_root)) if ml_root else settings.paths
    sys.exit(run_training(paths))


@cli.group()
def local() -> None:
    """Run an image with Docker exactly as SageMaker would (serve, train, transform)."""


local.add_command(transform_command)
local.add_command(invoke_command)
cli.add_command(check_command)
cli.add_command(init_command)


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


SAMPLE_CSV = "4,140,86,2790,15.6,82,1\n8,350,165,3693,11.5,70,1\n"
SAMPLE_JSON = {
    "cylinders": 4,
    "displacement": 97,
    "horsepower": 88,
    "weight": 2130,
    "acceleration": 14.5,
    "model_year": 71,
    "origin": "Japan",
}


def _request(
    url: str, data: bytes | None = None, content_type: str | None = None
) -> tuple[int, str]:
    from .local import http_request

    headers = {"Content-Type": content_type, "Accept": "application/json"} if content_type else {}
    status, body = http_request(url, 5, data, headers)
    return status, body.decode()


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if _request(url + "/ping")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--once", is_flag=True, help="Stop after the sample predictions.")
def demo(port: int, once: bool) -> None:
    """Serve the embedded example (Auto MPG linear model) locally and predict with it."""
    from .example import MODEL_FILE, bundled_model

    root = Path(tempfile.mkdtemp(prefix="byoc-demo-"))
    (root / "model").mkdir()
    shutil.copy(bundled_model() / MODEL_FILE, root / "model" / MODEL_FILE)
    env = dict(
        os.environ,
        SAGEMAKER_BASE_DIR=str(root),
        BYOC_HANDLER="byoc.example.handler",
        SAGEMAKER_BIND_TO_PORT=str(port),
        SAGEMAKER_MODEL_SERVER_WORKERS=os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "1"),
        BYOC_HOST="127.0.0.1",
    )
    url = f"http://127.0.0.1:{port}"
    click.echo(f"byoc demo: serving the embedded Auto MPG example on {url} (model in {root})")
    process = subprocess.Popen([sys.executable, "-m", "byoc", "serve"], env=env)
    try:
        if not _wait_for_ping(url, process, 60):
            _fail(f"the server did not become healthy on {url} (is the port free?)", 1)
        click.echo(f"GET  {url}/ping -> 200")
        status, body = _request(url + "/invocations", SAMPLE_CSV.encode(), "text/csv")
        click.echo(f"POST {url}/invocations (text/csv, 2 cars) -> {status} {body.strip()}")
        status, body = _request(
            url + "/invocations", json.dumps(SAMPLE_JSON).encode(), "application/json"
        )
        click.echo(f"POST {url}/invocations (application/json) -> {status} {body.strip()}")
        if once:
            return
        click.echo(f"Serving on {url} — try ./local_test/predict.sh; Ctrl-C stops it.")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    from .cli_aws import register

    register(cli)
    cli()
