"""Docker fixtures' helpers: fail (not skip) without Docker under CI=true."""

from __future__ import annotations

import os
import subprocess

import pytest

from byoc.local import docker, docker_available

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


def test_image() -> str:
    """The image under test: $BYOC_TEST_IMAGE, else built now with container/build.sh."""
    given = os.environ.get("BYOC_TEST_IMAGE")
    if given:
        if docker("image", "inspect", given, check=False).returncode != 0:
            pytest.fail(f"BYOC_TEST_IMAGE={given} does not exist")
        return given
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    args = [str(REPO / "container" / "build.sh"), "--name", "byoc-test"]
    if docker("image", "inspect", base, check=False).returncode == 0:
        args += ["--base", base]
    result = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        pytest.fail(f"building the image failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


test_image.__test__ = False  # type: ignore[attr-defined]
