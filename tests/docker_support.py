"""Docker fixtures' helpers: fail (not skip) without Docker under CI=true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from byoc.local import docker, docker_available, train

from .conftest import IN_CI
from .server import REPO


def require_docker() -> None:
    problem = docker_available()
    if problem is None:
        return
    message = f"Docker is needed: {problem} (bash .ci/docker-setup.sh starts one)"
    if IN_CI:
        pytest.fail(message + " — CI=true: Docker tests must run, not skip")
    pytest.skip(message)


def test_image(serve_only: bool = False) -> str:
    """The image under test: $BYOC_TEST_IMAGE (or, ``serve_only``, $BYOC_SERVE_ONLY_IMAGE),
    else built now with container/build.sh."""
    variable = "BYOC_SERVE_ONLY_IMAGE" if serve_only else "BYOC_TEST_IMAGE"
    given = os.environ.get(variable)
    if given:
        if docker("image", "inspect", given, check=False).returncode != 0:
            pytest.fail(f"{variable}={given} does not exist")
        return given
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    args = [str(REPO / "container" / "build.sh"), "--name", "byoc-test"]
    if serve_only:
        args.append("--serve-only")
    if docker("image", "inspect", base, check=False).returncode == 0:
        args += ["--base", base]
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"building the image failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


test_image.__test__ = False  # type: ignore[attr-defined]


# Session fixtures shared by every module that needs the image or a trained model (one
# training job per run); conftest.py makes them visible.
@pytest.fixture(scope="session")
def image() -> str:
    require_docker()
    return test_image()


@pytest.fixture(scope="session")
def serve_only_image() -> str:
    """The serving-only image (LiteRT, no TensorFlow): container/build.sh --serve-only."""
    require_docker()
    return test_image(serve_only=True)


def new_job(root: Path, **hyperparameters: str) -> Path:
    job = root / "job"
    shutil.copytree(REPO / "local_test" / "test_dir" / "input", job / "input")
    (job / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return job


@pytest.fixture(scope="session")
def trained(image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real training job (network isolated), shared by the serving tests."""
    job = new_job(tmp_path_factory.mktemp("trained"), epochs="40", patience="5")
    result = train(image, job, network=False, stream=False)
    assert result.exit_code == 0, result.failure_reason
    assert result.model_archive == job / "output" / "model.tar.gz"
    return job
