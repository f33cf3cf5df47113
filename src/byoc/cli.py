"""``byoc`` command line: ``serve`` and ``train`` (what SageMaker runs), and ``demo``."""

from __future__ import annotations

import importlib
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

from .errors import SettingsError
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


# Commands that live in modules of their own, imported when one of them is run (or
# listed by --help): every container start runs `byoc serve`, which needs none of them.
LAZY_COMMANDS = {
    "check": ".cli_check:check_command",
    "init": ".cli_init:init_command",
    "local": ".cli_local:local",
    "login": ".cli_aws:login",
    "push": ".cli_aws:push",
    "package": ".cli_aws:package",
    "deploy": ".cli_deploy:deploy",
    "invoke": ".cli_deploy:invoke",
    "delete": ".cli_deploy:delete",
    "transform": ".cli_jobs:transform",
    "marketplace": ".cli_jobs:marketplace",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in LAZY_COMMANDS:
            return super().get_command(ctx, name)
        module, attribute = LAZY_COMMANDS[name].split(":")
        command = getattr(importlib.import_module(module, __package__), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{LAZY_COMMANDS[name]} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    cli()
