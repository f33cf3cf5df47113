"""Real parts for the AWS tests: moto in server mode and a Docker registry on localhost.

moto runs as its own process on a free port (clients reach it through ``endpoint_url``);
the registry is Debian's ``docker-registry`` with htpasswd auth whose user and password
are the ones moto's ECR ``GetAuthorizationToken`` hands out, so ``docker login`` and
``docker push`` really happen. Both fail (not skip) under CI=true when they are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .conftest import IN_CI
from .server import free_port

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ECR_PASSWORD = f"{ACCOUNT}-auth-token"  # what moto's GetAuthorizationToken encodes
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"


def run_byoc(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``python -m byoc ARGS`` in this environment plus ``env``, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "byoc", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " (CI=true: this must not be skipped)")
    pytest.skip(message)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds}s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto_server`` on 127.0.0.1 and a free port, for the whole session."""
    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        _missing("moto's server is needed: pip install 'moto[server]' (in the dev extra)")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/moto-api/", process, log)
        yield url
    finally:
        _stop(process)


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean moto state and an environment that points boto3 (and byoc) at it."""
    requests.post(moto_url + "/moto-api/reset", timeout=10).raise_for_status()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "BYOC_AWS_ENDPOINT_URL": moto_url,
    }
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


def moto_clients(moto_url: str) -> dict[str, object]:
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    names = ("s3", "ecr", "sagemaker", "application-autoscaling", "sts")
    return {name: session.client(name, endpoint_url=moto_url) for name in names}


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 with htpasswd auth (moto's ECR credentials)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        _missing("docker-registry is needed: apt-get install docker-registry (.ci/run does)")
    import bcrypt

    root = tmp_path_factory.mktemp("registry")
    hashed = bcrypt.hashpw(ECR_PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (root / "htpasswd").write_text(f"AWS:{hashed}\n")
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: byoc-test, path: {root / 'htpasswd'}}}}}\n"
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")],
            stdout=out,
            stderr=out,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )
    try:
        _wait(f"http://127.0.0.1:{port}/v2/", process, log)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
