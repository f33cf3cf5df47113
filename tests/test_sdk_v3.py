"""The SageMaker Python SDK v3 drives the image unchanged: ModelTrainer trains, LocalSession hosts.

v3 (PyPI ``sagemaker`` 3.x) cannot share a venv with the v2 that the rest of the suite
imports, so tests/sdk3/drive.py runs in the venv of .ci/sdk3-setup.sh ($BYOC_SDK3_PYTHON)
and reports what it found as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from byoc.local import docker

from .conftest import IN_CI
from .docker_support import require_docker, test_image
from .server import REPO

pytestmark = pytest.mark.docker

DRIVER = REPO / "tests" / "sdk3" / "drive.py"
DATA = REPO / "local_test" / "test_dir" / "input" / "data" / "training"
TIMEOUT = 600  # seconds for the whole driver; about 20 s here
NETWORK = "sagemaker-local"  # the SDK's compose files create it and leave it behind
WORKING_DIR = "com.docker.compose.project.working_dir"  # compose's label: where its file was


def sdk3_python() -> str:
    python = os.environ.get("BYOC_SDK3_PYTHON", "")
    if python and os.access(python, os.X_OK):
        return python
    message = f"BYOC_SDK3_PYTHON={python!r} is not SDK v3's python (bash .ci/sdk3-setup.sh)"
    if IN_CI:
        pytest.fail(message + " — CI=true: this must not be skipped")
    pytest.skip(message)


def test_model_trainer_trains_and_local_session_hosts(tmp_path: Path) -> None:
    require_docker()
    image = test_image()
    python = sdk3_python()
    data = tmp_path / "data"
    shutil.copytree(DATA, data)  # ModelTrainer mounts the channel's directory read-write
    work = tmp_path / "work"
    work.mkdir()
    had_network = docker("network", "inspect", NETWORK, check=False).returncode == 0
    try:
        result = run_driver(python, image, data, work)
    finally:
        left_running = remove_leftovers(work, had_network)

    assert result["sdk"]["sagemaker"].startswith("3.")
    model_data = Path(result["model_data"])
    assert model_data.is_file() and model_data.parent.parent.parent == work
    assert model_data.parts[-2:] == ("compressed_artifacts", "model.tar.gz")
    assert {"model.keras", "metadata.json"} <= set(result["members"])
    assert result["endpoint_status"] == "InService"
    assert result["content_type"].startswith("application/json")
    mpg = result["prediction"]
    assert isinstance(mpg, float) and 5 < mpg < 60, result["body"]
    assert not left_running, f"delete_endpoint left {left_running} running"


def run_driver(python: str, image: str, data: Path, work: Path) -> dict[str, Any]:
    command = [python, str(DRIVER), "--image", image, "--data", str(data), "--work", str(work)]
    stdout_path, stderr_path = work.parent / "driver.out", work.parent / "driver.err"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        # Its own process group: on a timeout, docker-compose and docker go with it.
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            returncode = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"the SDK v3 driver did not finish in {TIMEOUT} s:\n{tail(stdout_path)}")
    if returncode != 0:
        pytest.fail(
            f"the SDK v3 driver exited with {returncode}:\n"
            f"{tail(stdout_path)}\n--- stderr ---\n{tail(stderr_path)}"
        )
    result: dict[str, Any] = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    return result


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


def remove_leftovers(work: Path, had_network: bool) -> list[str]:
    """Remove the containers the SDK's compose files left (it never runs ``down``).

    They are found by the directory of their compose file, which lies under ``work``,
    so nobody else's containers are touched. Returns the names of those still running.
    """
    template = f'{{{{.ID}}}}\t{{{{.State}}}}\t{{{{.Names}}}}\t{{{{.Label "{WORKING_DIR}"}}}}'
    running = []
    for line in docker("ps", "-a", "--format", template).stdout.splitlines():
        container, state, name, directory = line.split("\t")
        if directory == str(work) or directory.startswith(f"{work}/"):
            if state == "running":
                running.append(name)
            docker("rm", "-f", container, check=False)
    if not had_network:
        docker("network", "rm", NETWORK, check=False)  # fails, harmlessly, if others use it
    return running
