"""``byoc push`` against moto's ECR and a real registry: login, push, pull, run."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from byoc.local import docker, start_endpoint

from .aws_support import ACCOUNT, ECR_PASSWORD, REGION, moto_clients, run_byoc
from .docker_support import require_docker, test_image
from .server import free_port

pytestmark = pytest.mark.docker

ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture(scope="module")
def image(registry: str) -> Iterator[str]:
    require_docker()
    yield test_image()
    # the pushes leave REGISTRY/NAME:TAG references in the local engine: drop them
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    for ref in refs:
        if ref.startswith(registry + "/"):
            docker("rmi", ref, check=False)


# Where a push is not meant to get as far as a login: a local port nothing listens on, so
# that a test that goes wrong never reaches for the real ECR host.
NOWHERE = {"BYOC_ECR_REGISTRY": "127.0.0.1:9"}


def byoc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_byoc(*args, env={**NOWHERE, **(env or {})})


def repositories(moto_url: str) -> list[dict[str, object]]:
    ecr = moto_clients(moto_url)["ecr"]
    return ecr.describe_repositories()["repositories"]  # type: ignore[attr-defined, no-any-return]


def test_push_login_pull_and_run(
    image: str, aws_env: dict[str, str], moto_url: str, registry: str, tmp_path: Path
) -> None:
    home_config = Path.home() / ".docker" / "config.json"
    before = home_config.read_bytes() if home_config.exists() else None
    labels = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Labels"]
    version = labels["org.opencontainers.image.version"]
    revision = labels["org.opencontainers.image.revision"]
    started = time.monotonic()
    result = byoc("push", image, "--repository", "byoc/autompg", "--registry", registry, "--json")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    size = json.loads(docker("image", "inspect", image).stdout)[0]["Size"]
    print(f"pushed {size / 1e6:.0f} MB in {seconds:.1f}s")

    tags = [f"{version}-{revision}", version, "latest"]
    assert out["image_uri"] == f"{ECR_HOST}/byoc/autompg:{version}-{revision}"
    assert out["uris"] == [f"{ECR_HOST}/byoc/autompg:{tag}" for tag in tags]
    assert out["pushed_to"] == registry and out["repository_created"] is True
    assert out["digest"].startswith("sha256:")
    (repo,) = repositories(moto_url)
    assert repo["repositoryName"] == "byoc/autompg"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "MUTABLE"
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert any("logged in to" in e["message"] for e in events)
    assert sum(e["event"] == "done" and "pushing" in e["message"] for e in events) == 3

    listed = requests.get(
        f"http://{registry}/v2/byoc/autompg/tags/list", auth=("AWS", ECR_PASSWORD), timeout=10
    ).json()
    assert sorted(listed["tags"]) == sorted(tags)
    assert requests.get(f"http://{registry}/v2/_catalog", timeout=10).status_code == 401
    # no credentials left behind: the login used a throw-away Docker config
    assert (home_config.read_bytes() if home_config.exists() else None) == before

    pushed = f"{registry}/byoc/autompg:{version}"
    docker("rmi", pushed)
    login = subprocess.run(
        ["docker", "--config", str(tmp_path), "login", "-u", "AWS", "--password-stdin", registry],
        input=ECR_PASSWORD,
        capture_output=True,
        text=True,
        check=True,
    )
    assert login.returncode == 0
    docker("--config", str(tmp_path), "pull", pushed, timeout=600)
    assert (
        docker("image", "inspect", "-f", "{{.Id}}", pushed).stdout
        == docker("image", "inspect", "-f", "{{.Id}}", image).stdout
    )
    model = Path(__file__).resolve().parent.parent / "src" / "byoc" / "example"
    endpoint = start_endpoint(
        pushed, model, port=free_port(), env={"BYOC_HANDLER": "byoc.example.handler"}
    )
    try:
        endpoint.wait_healthy(120)
        status, body = endpoint.invoke(b"4,140,86,2790,15.6,82,1\n", "text/csv")
        assert status == 200, body
        (mpg,) = json.loads(body)  # JSON: no Accept answers as the AWS toolkit does
        assert 10 < mpg < 50
    finally:
        endpoint.stop()


def test_second_push_reuses_the_repository(
    image: str, aws_env: dict[str, str], moto_url: str, registry: str
) -> None:
    moto_clients(moto_url)["ecr"].create_repository(repositoryName="existing")  # type: ignore[attr-defined]
    result = byoc("push", image, "--repository", "existing", "--registry", registry, "--tag", "t1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"{ECR_HOST}/existing:t1"
    assert "repository" in result.stderr and "exists" in result.stderr
    assert "does not scan on push" in result.stderr  # a warning, with the command to fix it


def no_repositories(moto_url: str) -> None:
    assert repositories(moto_url) == []


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--repository", "Bad_Name"], {}, "invalid ECR repository name 'Bad_Name'"),
        (["--tag", "-x"], {}, "invalid image tag '-x'"),
        ([], {"DOCKER_HOST": "unix:///nonexistent.sock"}, "Docker is needed to push an image"),
        ([], {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "no AWS region"),
    ],
    ids=["repository-name", "tag", "docker-not-running", "no-region"],
)
def test_bad_input_creates_nothing(
    image: str,
    aws_env: dict[str, str],
    moto_url: str,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    result = byoc("push", image, *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    no_repositories(moto_url)


def test_an_image_that_is_not_here(aws_env: dict[str, str], moto_url: str) -> None:
    require_docker()
    result = byoc("push", "no-such-image:1")
    assert result.returncode == 2
    assert "image 'no-such-image:1' is not in the local Docker engine" in result.stderr
    no_repositories(moto_url)


def test_an_arm64_image_is_refused(aws_env: dict[str, str], moto_url: str, tmp_path: Path) -> None:
    require_docker()
    (tmp_path / "hello").write_text("hi")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY hello /\n")
    docker("build", "-q", "--platform", "linux/arm64", "-t", "byoc-arm64-test:1", str(tmp_path))
    try:
        result = byoc("push", "byoc-arm64-test:1")
    finally:
        docker("rmi", "byoc-arm64-test:1", check=False)
    assert result.returncode == 2, result.stderr
    assert "is linux/arm64; SageMaker runs linux/amd64 only" in result.stderr
    assert "exec format error" in result.stderr
    no_repositories(moto_url)


def test_immutable_tags_repository(aws_env: dict[str, str], moto_url: str) -> None:
    from byoc.aws import Aws, Reporter
    from byoc.aws.ecr import ensure_repository

    aws = Aws.connect(REGION, moto_url)
    assert ensure_repository(aws, "pinned", True, Reporter("quiet"))[1] is True  # created
    (repo,) = repositories(moto_url)
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    found, created = ensure_repository(aws, "pinned", False, Reporter("quiet"))
    assert not created and found["imageTagMutability"] == "IMMUTABLE"  # found, kept as it is
