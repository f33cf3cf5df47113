"""``byoc deploy | invoke | delete | transform | marketplace`` against moto's server.

moto keeps the state SageMaker, S3 and Application Auto Scaling would, so the tests check
what was created, not only that calls returned. Where moto falls short it is said here:
it runs no container (endpoints are InService at once, transform jobs and model packages
Completed at once, invoke_endpoint answers what its /moto-api queue is given) and it does
not implement UpdateEndpoint (an HTTP 500) and does not keep a model's
EnableNetworkIsolation (always False).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from .aws_support import ACCOUNT, REGION, ROLE, moto_clients, run_byoc

pytestmark = pytest.mark.process

IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/byoc:0.1.0"
DATA = "s3://models/autompg/model.tar.gz"
CARS = Path(__file__).resolve().parent.parent / "local_test" / "payloads" / "cars.csv"


byoc = run_byoc


@pytest.fixture
def aws(aws_env: dict[str, str], moto_url: str) -> dict[str, Any]:
    clients = moto_clients(moto_url)
    clients["s3"].create_bucket(Bucket="models")  # type: ignore[attr-defined]
    clients["s3"].put_object(Bucket="models", Key="autompg/model.tar.gz", Body=b"archive")  # type: ignore[attr-defined]
    clients["s3"].create_bucket(  # type: ignore[attr-defined]
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    clients["s3"].put_object(Bucket="far-away", Key="model.tar.gz", Body=b"archive")  # type: ignore[attr-defined]
    return clients


def result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def deploy(
    *extra: str, name: str = "autompg", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``byoc deploy NAME`` with a valid image, model and role; later options win."""
    args = ("deploy", name, "--image", IMAGE, "--model-data", DATA, "--role", ROLE, *extra)
    return byoc(*args, env=env)


def nothing_created(aws: dict[str, Any]) -> None:
    sm = aws["sagemaker"]
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []
    assert sm.list_model_packages()["ModelPackageSummaryList"] == []


def test_deploy_real_time_with_autoscaling(aws: dict[str, Any]) -> None:
    out = result(
        deploy(
            "--instance-type",
            "ml.c5.xlarge",
            "--instance-count",
            "2",
            "--env",
            "A=1",
            "--env",
            "SAGEMAKER_MODEL_SERVER_WORKERS=2",
            "--network-isolation",
            "--autoscale",
            "2:6",
            "--target-invocations",
            "250",
            "--json",
        )
    )
    assert out["status"] == "InService" and out["updated"] is False
    sm = aws["sagemaker"]
    model = sm.describe_model(ModelName=out["model"])
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == DATA
    assert model["PrimaryContainer"]["Environment"] == {
        "A": "1",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
    }
    assert model["ExecutionRoleArn"] == ROLE
    # moto drops EnableNetworkIsolation (its Model always says False), so it is not checked
    config = sm.describe_endpoint_config(EndpointConfigName=out["endpoint_config"])
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.c5.xlarge" and variant["InitialInstanceCount"] == 2
    assert variant["ModelName"] == out["model"]
    endpoint = sm.describe_endpoint(EndpointName="autompg")
    assert endpoint["EndpointConfigName"] == out["endpoint_config"]

    scaling = aws["application-autoscaling"]
    resource = "endpoint/autompg/variant/AllTraffic"
    (target,) = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and tracking["TargetValue"] == 250
    metric = tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
    assert metric == "SageMakerVariantInvocationsPerInstance"


def test_deploy_serverless_and_async(aws: dict[str, Any]) -> None:
    out = result(deploy("--serverless-memory", "3072", "--serverless-concurrency", "4", "--json"))
    config = aws["sagemaker"].describe_endpoint_config(EndpointConfigName=out["endpoint_config"])
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 4}
    assert "InstanceType" not in variant

    out = result(deploy("--async-output", "s3://models/async/", "--json", name="autompg-async"))
    config = aws["sagemaker"].describe_endpoint_config(EndpointConfigName=out["endpoint_config"])
    assert config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == "s3://models/async/"


def test_redeploy_calls_update_endpoint_and_rolls_back_when_it_fails(aws: dict[str, Any]) -> None:
    """moto does not implement UpdateEndpoint: byoc says so and removes what it made."""
    first = result(deploy("--autoscale", "1:3", "--json"))
    again = deploy()
    assert again.returncode == 1
    assert "sagemaker update-endpoint autompg failed" in again.stderr
    assert "removed what this deploy created (config autompg-" in again.stderr
    # an autoscaled variant is unscaled before an update; the message says so
    assert "its autoscaling was removed before the update (scaling policy" in again.stderr
    assert "Traceback" not in again.stderr and "<html" not in again.stderr
    sm = aws["sagemaker"]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [first["model"]]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert configs == [first["endpoint_config"]]


def test_invoke_passes_everything_through_sagemaker_runtime(
    aws: dict[str, Any], moto_url: str
) -> None:
    """moto answers invoke_endpoint from a queue (no container): we check the round trip."""
    result(deploy("--json"))
    answer = {
        "Body": "[23.5, 17.1, 30.2]",
        "ContentType": "application/json",
        "InvokedProductionVariant": "AllTraffic",
        "CustomAttributes": "trace=1",
    }
    queued = {"results": [answer, answer]}  # one for each distinct request below
    requests.post(
        f"{moto_url}/moto-api/static/sagemaker/endpoint-results", json=queued, timeout=10
    ).raise_for_status()
    out = result(
        byoc(
            "invoke",
            "autompg",
            str(CARS),
            "--accept",
            "application/json",
            "--custom-attributes",
            "trace=1",
            "--json",
        )
    )
    assert out == {
        "content_type": "application/json",
        "body": "[23.5, 17.1, 30.2]",
        "variant": "AllTraffic",
        "custom_attributes": "trace=1",
    }
    plain = byoc("invoke", "autompg", str(CARS))
    assert plain.returncode == 0 and plain.stdout == "[23.5, 17.1, 30.2]\n"


def test_delete_removes_what_deploy_made(aws: dict[str, Any]) -> None:
    result(deploy("--autoscale", "1:3", "--json"))
    out = result(byoc("delete", "autompg", "--json"))
    kinds = [item.split()[0] + " " + item.split()[1] for item in out["removed"]]
    assert kinds == [
        "scaling policy",
        "scalable target",
        "endpoint autompg",
        "endpoint config",
        "model autompg-" + out["removed"][-1].split("autompg-")[1],
    ]
    nothing_created(aws)
    scaling = aws["application-autoscaling"]
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    again = byoc("delete", "autompg")
    assert again.returncode == 2 and "endpoint autompg does not exist in us-east-1" in again.stderr


NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--role", "SageMakerRole"],
            {},
            f"did you mean arn:aws:iam::{ACCOUNT}:role/SageMakerRole?",
        ),
        (["--serverless-memory", "512"], {}, "serverless memory 512 MB: must be 1024, 2048"),
        (["--serverless-memory", "8192"], {}, "serverless memory 8192 MB"),
        (
            ["--instance-type", "ml.m5.larg"],
            {},
            "no instance type 'ml.m5.larg' for endpoints; did you mean ml.m5.large",
        ),
        (["--instance-type", "m5.large"], {}, "start with 'ml.' (ml.m5.large?)"),
        (
            ["--model-data", "s3://far-away/model.tar.gz"],
            {},
            "is in eu-west-1, but this runs in us-east-1",
        ),
        (
            ["--model-data", "s3://models/missing.tar.gz"],
            {},
            "model data s3://models/missing.tar.gz does not exist",
        ),
        (
            ["--model-data", "s3://no-such-bucket/m.tar.gz"],
            {},
            "S3 bucket 'no-such-bucket' does not exist",
        ),
        (
            ["--image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/byoc:1"],
            {},
            "is in ECR in eu-west-1",
        ),
        (["--autoscale", "3:1"], {}, "need 1 <= min <= max"),
        (
            ["--serverless-memory", "2048", "--autoscale", "1:2"],
            {},
            "serverless endpoints take neither",
        ),
        ([], {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "no AWS region"),
        ([], NO_CREDENTIALS, "no AWS credentials"),
    ],
    ids=[
        "role-name",
        "serverless-small",
        "serverless-big",
        "instance-type",
        "instance-no-ml",
        "model-data-region",
        "model-data-missing",
        "bucket-missing",
        "image-region",
        "autoscale-range",
        "serverless-autoscale",
        "no-region",
        "no-credentials",
    ],
)
def test_deploy_bad_input_creates_nothing(
    aws: dict[str, Any], args: list[str], env: dict[str, str], message: str
) -> None:
    done = deploy(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    nothing_created(aws)


def test_aws_out_of_reach_is_one_line_not_a_traceback(aws: dict[str, Any]) -> None:
    for args in (["invoke", "autompg", str(CARS)], ["delete", "autompg"], ["--region", "us east"]):
        command = args if args[0] != "--region" else ["delete", "autompg", *args]
        done = byoc(*command, env={"BYOC_AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert done.returncode in (1, 2), done.stderr
        assert done.stderr.startswith("byoc: ") and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_invoke_and_delete_of_an_endpoint_that_does_not_exist(aws: dict[str, Any]) -> None:
    for args in (["invoke", "ghost", str(CARS)], ["delete", "ghost"]):
        done = byoc(*args)
        assert done.returncode == 2
        assert "endpoint ghost does not exist in us-east-1" in done.stderr


def test_transform_creates_the_model_uploads_input_and_waits(aws: dict[str, Any]) -> None:
    out = result(
        byoc(
            "transform",
            "--model",
            "autompg-batch",
            "--image",
            IMAGE,
            "--model-data",
            DATA,
            "--role",
            ROLE,
            "--input",
            str(CARS),
            "--output",
            "s3://models/batch/out/",
            "--accept",
            "application/json",
            "--instance-type",
            "ml.c5.xlarge",
            "--max-payload",
            "6",
            "--max-concurrent",
            "2",
            "--join-source",
            "Input",
            "--input-filter",
            "$[0:6]",
            "--output-filter",
            "$['SageMakerOutput']",
            "--split-type",
            "Line",
            "--batch-strategy",
            "MultiRecord",
            "--json",
        )
    )
    assert out["status"] == "Completed"
    sm, s3 = aws["sagemaker"], aws["s3"]
    assert sm.describe_model(ModelName="autompg-batch")["PrimaryContainer"]["Image"] == IMAGE
    job = sm.describe_transform_job(TransformJobName=out["job"])
    assert job["ModelName"] == "autompg-batch" and job["BatchStrategy"] == "MultiRecord"
    assert (job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == (6, 2)
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://models/batch/out-input/"
    )
    assert job["TransformOutput"] == {
        "S3OutputPath": "s3://models/batch/out/",
        "Accept": "application/json",
        "AssembleWith": "Line",
    }
    assert job["DataProcessing"] == {
        "InputFilter": "$[0:6]",
        "OutputFilter": "$['SageMakerOutput']",
        "JoinSource": "Input",
    }
    stored = s3.get_object(Bucket="models", Key="batch/out-input/cars.csv")["Body"].read()
    assert stored == CARS.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-payload", "60", "--max-concurrent", "2"], "exceeds SageMaker's 100 MB"),
        (["--max-payload", "101"], "max payload 101 MB: must be 0-100"),
        (["--split-type", "Lines"], "split type 'Lines': must be one of None, Line"),
        (["--instance-type", "ml.t2.medium"], "no instance type 'ml.t2.medium' for batch"),
        (["--input-filter", "[0]"], "a JSONPath starting with $"),
        (["--role", "SageMakerRole"], "not a name"),
    ],
    ids=["payload-x-concurrency", "payload", "split-type", "instance", "filter", "role-name"],
)
def test_transform_bad_input_creates_nothing(
    aws: dict[str, Any], args: list[str], message: str
) -> None:
    base = {
        "--model": "m",
        "--image": IMAGE,
        "--model-data": DATA,
        "--role": ROLE,
        "--input": "s3://models/in/",
        "--output": "s3://models/out/",
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    done = byoc("transform", *[part for pair in base.items() for part in pair])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    nothing_created(aws)


def test_marketplace_package_with_validation_profile(aws: dict[str, Any]) -> None:
    out = result(
        byoc(
            "marketplace",
            "autompg-listing",
            "--image",
            IMAGE,
            "--model-data",
            DATA,
            "--role",
            ROLE,
            "--sample",
            str(CARS),
            "--sample-prefix",
            "s3://models/validation",
            "--content-type",
            "text/csv",
            "--content-type",
            "application/json",
            "--accept",
            "application/json",
            "--json",
        )
    )
    assert out["status"] == "Completed" and out["certify_for_marketplace"] is True
    assert out["validation"][0]["Status"] == "Completed"
    assert out["image_scan"][0]["Status"] == "Completed"
    package = aws["sagemaker"].describe_model_package(ModelPackageName="autompg-listing")
    spec = package["InferenceSpecification"]
    assert spec["Containers"] == [{"Image": IMAGE, "ModelDataUrl": DATA}]
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == ["application/json"]
    assert "ml.m5.large" in spec["SupportedRealtimeInferenceInstanceTypes"]
    validation = package["ValidationSpecification"]
    assert validation["ValidationRole"] == ROLE
    (profile,) = validation["ValidationProfiles"]
    job = profile["TransformJobDefinition"]
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://models/validation/input/"
    )
    sample = aws["s3"].get_object(Bucket="models", Key="validation/input/cars.csv")["Body"].read()
    assert sample == CARS.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "MarketplaceRole"], "did you mean arn:aws:iam::123456789012:role/Marketplace"),
        (["--image", "docker.io/me/model:1"], "Marketplace images must be in ECR"),
        (["--content-type", "application/x-npy"], "the sample's type text/csv is not among"),
        (["--transform-instance-type", "ml.t2.medium"], "no instance type 'ml.t2.medium'"),
    ],
    ids=["role-name", "not-ecr", "sample-type", "instance"],
)
def test_marketplace_bad_input_creates_nothing(
    aws: dict[str, Any], args: list[str], message: str
) -> None:
    base = [
        "marketplace",
        "listing",
        "--model-data",
        DATA,
        "--sample",
        str(CARS),
        "--sample-prefix",
        "s3://models/v",
        "--accept",
        "application/json",
    ]
    if "--role" not in args:
        base += ["--role", ROLE]
    if "--image" not in args:
        base += ["--image", IMAGE]
    if "--content-type" not in args:
        base += ["--content-type", "text/csv"]
    done = byoc(*base, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    nothing_created(aws)
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket="models", Prefix="v/")
