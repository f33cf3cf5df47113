"""The image's entry point: which command runs when none is given, and the explicit one wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc.entrypoint import default_command
from byoc.local import docker, start_endpoint, train
from byoc.paths import MLPaths

from .docker_support import new_job, require_docker, test_image


def test_no_command_serves_without_a_training_configuration(tmp_path: Path) -> None:
    assert default_command({}, MLPaths(tmp_path)) == ("serve", "no training job configuration")


def test_no_command_trains_when_the_job_name_is_set(tmp_path: Path) -> None:
    command, why = default_command({"TRAINING_JOB_NAME": "job-1"}, MLPaths(tmp_path))
    assert (command, why) == ("train", "TRAINING_JOB_NAME is set")


@pytest.mark.parametrize(
    "name", ["hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"]
)
def test_no_command_trains_when_a_training_config_file_exists(tmp_path: Path, name: str) -> None:
    paths = MLPaths(tmp_path)
    paths.input_config_dir.mkdir(parents=True)
    (paths.input_config_dir / name).write_text("{}")
    command, why = default_command({}, paths)
    assert command == "train" and why.endswith(f"{name} exists")


def test_an_empty_job_name_is_not_a_training_job(tmp_path: Path) -> None:
    assert default_command({"TRAINING_JOB_NAME": ""}, MLPaths(tmp_path))[0] == "serve"


@pytest.fixture(scope="module")
def image() -> str:
    require_docker()
    return test_image()


@pytest.mark.docker
def test_image_has_no_cmd_so_the_entrypoint_decides(image: str) -> None:
    info = json.loads(docker("image", "inspect", image).stdout)[0]
    assert not info["Config"]["Cmd"]


@pytest.mark.docker
def test_image_with_no_command_trains_a_training_job(image: str, tmp_path: Path) -> None:
    """SDK v3's ModelTrainer starts the container with no command and the job's config."""
    job = new_job(tmp_path, epochs="2")
    result = train(image, job, network=False, stream=False, command=(), max_runtime=300)
    assert not result.stopped, "it served instead of training (MaxRuntime reached)"
    assert result.exit_code == 0, result.failure_reason
    assert (job / "model" / "model.keras").is_file()
    assert json.loads((job / "model" / "metadata.json").read_text())["epochs_run"] == 2


@pytest.mark.docker
def test_image_with_no_command_serves_a_model(image: str, tmp_path: Path) -> None:
    job = new_job(tmp_path, epochs="2")
    assert train(image, job, network=False, stream=False).exit_code == 0
    endpoint = start_endpoint(image, job / "model", isolated=True, command=())
    try:
        endpoint.wait_healthy(120)
        status, body = endpoint.invoke(b"4,140,86,2790,15.6,82,1\n", "text/csv")
        assert status == 200, body
        assert "no command given: serve" in endpoint.logs()
    finally:
        endpoint.stop()


@pytest.mark.docker
def test_explicit_serve_wins_over_a_training_configuration(image: str, tmp_path: Path) -> None:
    """``serve`` wins even inside a container that holds a training configuration."""
    job = new_job(tmp_path, epochs="2")
    assert train(image, job, network=False, stream=False).exit_code == 0
    endpoint = start_endpoint(
        image, job / "model", isolated=True, mounts={job / "input": "/opt/ml/input"}
    )
    try:
        endpoint.wait_healthy(120)
        status, _ = endpoint.invoke(b"4,140,86,2790,15.6,82,1\n", "text/csv")
        assert status == 200
        assert "no command given" not in endpoint.logs()
    finally:
        endpoint.stop()
