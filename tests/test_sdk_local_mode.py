"""The SageMaker Python SDK's local mode drives the image unchanged (fit, deploy, predict)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from byoc.local import docker

from .conftest import require
from .docker_support import require_docker, test_image
from .server import REPO, free_port

pytestmark = pytest.mark.docker

DATA = REPO / "local_test" / "test_dir" / "input" / "data" / "training"
# No telemetry: tests talk to localhost and their own containers only.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def test_estimator_fit_deploy_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_docker()
    image = test_image()
    before = set(docker("ps", "-aq").stdout.split())
    try:
        run_sdk(image, tmp_path, monkeypatch)
    finally:  # the SDK's docker-compose leaves its stopped containers behind
        for container in set(docker("ps", "-aq").stdout.split()) - before:
            name = docker("inspect", "-f", "{{.Name}}", container, check=False).stdout
            if "-algo-" in name:
                docker("rm", "-f", container, check=False)


def run_sdk(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config_file = tmp_path / "sdk-config.yaml"
    config_file.write_text(json.dumps(SDK_CONFIG))  # JSON is YAML
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config_file))
    require("sagemaker", "for the SDK's local mode (pip install -e '.[sdk]')")
    import boto3
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession
    from sagemaker.serializers import CSVSerializer

    boto = boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    session = LocalSession(boto_session=boto, sagemaker_config=SDK_CONFIG)
    root = tmp_path / "sdk-root"
    root.mkdir()
    session.config = {
        "local": {"local_code": True, "serving_port": free_port(), "container_root": str(root)}
    }
    estimator = Estimator(
        image_uri=image,
        role="arn:aws:iam::123456789012:role/SageMakerRole",
        instance_count=1,
        instance_type="local",
        sagemaker_session=session,
        output_path=f"file://{tmp_path / 'out'}",
        hyperparameters={"epochs": 30, "batch-size": 32},
    )
    estimator.fit({"training": f"file://{DATA}"})
    assert estimator.model_data == f"file://{tmp_path / 'out'}/model.tar.gz"
    assert (tmp_path / "out" / "model.tar.gz").is_file()

    predictor = estimator.deploy(
        initial_instance_count=1,
        instance_type="local",
        serializer=CSVSerializer(),
        deserializer=JSONDeserializer(),
    )
    try:
        mpg = predictor.predict([[4, 140, 86, 2790, 15.6, 82, 1], [8, 350, 165, 3693, 11.5, 70, 1]])
        assert len(mpg) == 2 and all(isinstance(v, float) for v in mpg)
        assert mpg[0] > mpg[1]
    finally:
        predictor.delete_endpoint()
    assert os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] == str(config_file)
