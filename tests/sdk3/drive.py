"""SDK v3 (PyPI ``sagemaker`` 3.x) drives the image: ModelTrainer trains, LocalSession hosts.

Not a test module: tests/test_sdk_v3.py runs it with the venv of .ci/sdk3-setup.sh, as
v3 cannot share a venv with the v2 the other tests import.

    python tests/sdk3/drive.py --image IMAGE --data DIR --work DIR

Only localhost and the containers the SDK starts are talked to: a region and dummy
credentials are set (so boto3 never asks the instance metadata service), telemetry is
opted out in an SDK config file, and every path is local (no S3, STS or IAM call).
The last line printed is one JSON object with what was found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # an ARN: create_model won't ask IAM
ROW = "4,140,86,2790,15.6,82,1"
# Two epochs as a smoke test, with steps large enough that the model predicts plausible MPG
# (test MAE about 4 with the seed of train.py; the defaults' lr and batch size give ~23).
HYPERPARAMETERS = {"epochs": 2, "batch-size": 8, "learning-rate": 0.05}
# sagemaker/core/telemetry/telemetry_logging.py reads SageMaker.PythonSDK.Modules.TelemetryOptOut.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def offline_environment(work: Path) -> None:
    """Before sagemaker is imported: what keeps the SDK off the network."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    config_file = work / "sdk-config.yaml"
    config_file.write_text(json.dumps(SDK_CONFIG))  # JSON is YAML
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(work / "no-aws-credentials"),
        # The default sessions the SDK builds for itself (telemetry) read these files.
        SAGEMAKER_USER_CONFIG_OVERRIDE=str(config_file),
        SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(config_file),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train(image: str, data: Path, root: Path) -> dict[str, Any]:
    from sagemaker.core.training.configs import Compute, InputData  # was sagemaker.train.configs
    from sagemaker.train.model_trainer import Mode, ModelTrainer

    trainer = ModelTrainer(
        training_image=image,
        training_mode=Mode.LOCAL_CONTAINER,
        compute=Compute(instance_type="local_cpu", instance_count=1),
        input_data_config=[InputData(channel_name="training", data_source=str(data))],
        hyperparameters=HYPERPARAMETERS,
        local_container_root=str(root),
    )
    started = time.perf_counter()
    trainer.train()  # returns nothing in local mode; the artifact's place is fixed
    seconds = time.perf_counter() - started
    artifact = root / "compressed_artifacts" / "model.tar.gz"
    if not artifact.is_file():
        raise SystemExit(f"ModelTrainer.train() left no {artifact}")
    with tarfile.open(artifact) as tar:
        members = sorted(tar.getnames())
    return {"model_data": str(artifact), "members": members, "train_seconds": round(seconds, 1)}


def host_and_invoke(image: str, artifact: Path, work: Path) -> dict[str, Any]:
    import boto3
    from sagemaker.core.local.local_session import LocalSession

    boto = boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    session = LocalSession(boto_session=boto, sagemaker_config=SDK_CONFIG)
    hosting_root = work / "hosting"
    hosting_root.mkdir()
    port = free_port()
    session.config = {"local": {"serving_port": port, "container_root": str(hosting_root)}}
    # The tarball is extracted beside itself and that directory becomes /opt/ml/model.
    model_dir = work / "model-data"
    model_dir.mkdir()
    shutil.copy(artifact, model_dir / "model.tar.gz")

    name = f"byoc-sdk3-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    session.create_model(
        name,
        role=ROLE,
        container_defs={
            "Image": image,
            "ModelDataUrl": f"file://{model_dir / 'model.tar.gz'}",
            "Environment": {},
        },
    )
    session.create_endpoint_config(
        name,
        [
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "local",
            }
        ],
    )
    try:
        # Local create_endpoint returns once /ping answers 200; wait=True would only add
        # a 30 s sleep before its first DescribeEndpoint.
        session.create_endpoint(name, name, wait=False)
        status = session.sagemaker_client.describe_endpoint(EndpointName=name)["EndpointStatus"]
        up_seconds = time.perf_counter() - started
        response = session.sagemaker_runtime_client.invoke_endpoint(
            Body=ROW, EndpointName=name, ContentType="text/csv", Accept="application/json"
        )
        status_code = response["ResponseMetadata"]["HTTPStatusCode"]
        body = response["Body"].read().decode()
        content_type = response["ContentType"]
    finally:
        session.delete_endpoint(name)
        session.delete_endpoint_config(name)
        session.delete_model(name)
    if status_code != 200:
        raise SystemExit(f"invoke_endpoint answered {status_code}: {body}")
    value = json.loads(body)
    prediction = value[0] if isinstance(value, list) else value
    return {
        "endpoint_status": status,
        "serving_port": port,
        "serve_seconds": round(up_seconds, 1),
        "content_type": content_type,
        "body": body,
        "prediction": prediction,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--data", required=True, type=Path, help="the training channel")
    parser.add_argument("--work", required=True, type=Path, help="an empty directory")
    args = parser.parse_args()
    work = args.work.resolve()
    offline_environment(work)

    from importlib.metadata import version

    result: dict[str, Any] = {
        "sdk": {name: version(name) for name in ("sagemaker", "sagemaker-core", "sagemaker-train")}
    }
    # The compose project is named after this directory: unique, so that no other run's
    # container of the same name is taken over (compose v1 recreates it).
    training_root = Path(tempfile.mkdtemp(prefix="training-", dir=work))
    result.update(train(args.image, args.data.resolve(), training_root))
    result.update(host_and_invoke(args.image, Path(result["model_data"]), work))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
