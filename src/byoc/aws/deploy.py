"""``byoc deploy`` / ``byoc delete``: a model, its endpoint config and the endpoint.

Deploy creates a new model and endpoint config each time (named after the endpoint and a
timestamp, tagged ``byoc:endpoint``), then creates the endpoint or points the existing one
at the new config, waits until it is ``InService``, removes the configs and models the
endpoint no longer uses (only those byoc made), and sets up target-tracking autoscaling
when asked. If a step fails, the model and config this deploy made are removed again and the message
says so. ``byoc delete`` is in ``teardown``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .clients import Aws
from .errors import AwsError, InputError
from .progress import Reporter
from .s3 import check_object, check_same_region
from .teardown import (
    DIMENSION,
    TAG,
    VARIANT,
    delete_config_and_models,
    describe_endpoint,
    remove_scaling,
    resource_id,
)
from .validate import (
    S3Uri,
    check_instance_type,
    check_name,
    check_role_arn,
    check_serverless,
    ecr_image_region,
)
from .waiting import wait_for_status

__all__ = ["DeploySpec", "Scaling", "deploy", "describe_endpoint", "stamp"]


MAX_ENDPOINT_NAME = 45  # + "-" + a 17-digit stamp = SageMaker's 63


def stamp() -> str:
    """UTC time to the millisecond: model and config names of two deploys never collide."""
    now = time.time()
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}"


@dataclass(frozen=True)
class Scaling:
    min_instances: int
    max_instances: int
    invocations_per_instance: float  # target of SageMakerVariantInvocationsPerInstance
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60


@dataclass(frozen=True)
class DeploySpec:
    endpoint: str
    image: str
    role: str
    model_data: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    network_isolation: bool = False
    instance_type: str | None = "ml.m5.large"
    instance_count: int = 1
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int = 5
    async_output: str | None = None
    scaling: Scaling | None = None


def validate(aws: Aws, spec: DeploySpec) -> None:
    """Every check that can fail before anything is created."""
    check_name(spec.endpoint, "endpoint name")
    if len(spec.endpoint) > MAX_ENDPOINT_NAME:
        raise InputError(
            f"endpoint name {spec.endpoint!r}: at most {MAX_ENDPOINT_NAME} characters "
            "(byoc names the model and config after it, with a timestamp)"
        )
    check_role_arn(spec.role, aws.account())
    region = ecr_image_region(spec.image)
    if region is not None and region != aws.region:
        raise InputError(
            f"image {spec.image} is in ECR in {region}, the endpoint would be in {aws.region}"
        )
    if spec.serverless_memory_mb is not None:
        check_serverless(spec.serverless_memory_mb, spec.serverless_max_concurrency)
        if spec.async_output or spec.scaling:
            raise InputError("serverless endpoints take neither --async-output nor autoscaling")
    else:
        check_instance_type(spec.instance_type or "")
        if spec.instance_count < 1:
            raise InputError(f"instance count {spec.instance_count}: must be at least 1")
    if spec.scaling:
        s = spec.scaling
        if not 1 <= s.min_instances <= s.max_instances:
            raise InputError(
                f"autoscaling min {s.min_instances} / max {s.max_instances}: need 1 <= min <= max"
            )
        if s.invocations_per_instance <= 0:
            raise InputError("autoscaling target invocations per instance must be positive")
    for key in spec.environment:
        if not key or len(key) > 1024:
            raise InputError(f"environment variable name {key!r} is invalid")
    if spec.model_data:
        uri = S3Uri.parse(spec.model_data, "model data")
        check_same_region(aws, uri, "model data")
        check_object(aws, uri, "model data")
    if spec.async_output:
        check_same_region(aws, S3Uri.parse(spec.async_output, "async output"), "async output")


def _variant(spec: DeploySpec, model: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName": model}
    if spec.serverless_memory_mb is not None:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": spec.serverless_memory_mb,
            "MaxConcurrency": spec.serverless_max_concurrency,
        }
    else:
        variant.update(
            InstanceType=spec.instance_type,
            InitialInstanceCount=spec.instance_count,
            InitialVariantWeight=1.0,
        )
    return variant


def _create_model_and_config(
    aws: Aws, spec: DeploySpec, name: str, reporter: Reporter, made: list[str]
) -> None:
    tags = [{"Key": TAG, "Value": spec.endpoint}]
    container: dict[str, Any] = {"Image": spec.image, "Environment": spec.environment}
    if spec.model_data:
        container["ModelDataUrl"] = spec.model_data
    aws.call(
        "sagemaker",
        "create_model",
        f"sagemaker create-model {name}",
        ModelName=name,
        PrimaryContainer=container,
        ExecutionRoleArn=spec.role,
        EnableNetworkIsolation=spec.network_isolation,
        Tags=tags,
    )
    made.append("model")
    reporter.info(f"created model {name} ({spec.image})")
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [_variant(spec, name)],
        "Tags": tags,
    }
    if spec.async_output:
        config["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": spec.async_output}}
    aws.call("sagemaker", "create_endpoint_config", f"create-endpoint-config {name}", **config)
    made.append("config")
    reporter.info(f"created endpoint config {name}")


def _roll_back(aws: Aws, name: str, made: list[str]) -> str:
    """Remove the model and config this deploy made; say what happened to them."""
    sm = aws.client("sagemaker")
    removed, kept = [], []
    for kind, call, key in (
        ("config", sm.delete_endpoint_config, "EndpointConfigName"),
        ("model", sm.delete_model, "ModelName"),
    ):
        if kind in made:
            try:
                call(**{key: name})
                removed.append(f"{kind} {name}")
            except Exception as exc:
                kept.append(f"{kind} {name} ({exc})")
    said = f"removed what this deploy created ({', '.join(removed)})" if removed else ""
    if kept:
        said += ("; " if said else "") + "could not remove " + ", ".join(kept)
    return said


def deploy(
    aws: Aws, spec: DeploySpec, reporter: Reporter | None = None, interval: float = 15
) -> dict[str, Any]:
    reporter = reporter or Reporter("quiet")
    validate(aws, spec)
    existing = describe_endpoint(aws, spec.endpoint)
    if existing and existing["EndpointStatus"] == "Failed":
        raise InputError(
            f"endpoint {spec.endpoint} is Failed ({existing.get('FailureReason', 'no reason')}); "
            f"SageMaker only deletes a failed endpoint: byoc delete {spec.endpoint} first"
        )
    if existing and existing["EndpointStatus"] != "InService":
        raise InputError(
            f"endpoint {spec.endpoint} is {existing['EndpointStatus']}; wait until it is "
            "InService before deploying again"
        )
    name = f"{spec.endpoint}-{stamp()}"
    made: list[str] = []
    unscaled: list[str] = []
    try:
        _create_model_and_config(aws, spec, name, reporter, made)
        if existing:
            # an autoscaled variant cannot be updated: its scaling goes, and comes back below
            unscaled = remove_scaling(aws, spec.endpoint, reporter)
            if unscaled and not spec.scaling:
                reporter.warn(f"{spec.endpoint} is no longer autoscaled (pass --autoscale)")
            aws.call(
                "sagemaker",
                "update_endpoint",
                f"sagemaker update-endpoint {spec.endpoint}",
                EndpointName=spec.endpoint,
                EndpointConfigName=name,
            )
            reporter.info(f"updating endpoint {spec.endpoint} to {name}")
        else:
            aws.call(
                "sagemaker",
                "create_endpoint",
                f"sagemaker create-endpoint {spec.endpoint}",
                EndpointName=spec.endpoint,
                EndpointConfigName=name,
                Tags=[{"Key": TAG, "Value": spec.endpoint}],
            )
            reporter.info(f"creating endpoint {spec.endpoint}")
    except AwsError as exc:
        said = _roll_back(aws, name, made)
        if unscaled:
            said += f"; its autoscaling was removed before the update ({', '.join(unscaled)})"
        raise AwsError(f"{exc}" + (f"; {said}" if said else "")) from exc
    try:
        described = wait_for_status(
            lambda: aws.call(
                "sagemaker", "describe_endpoint", "describe-endpoint", EndpointName=spec.endpoint
            ),
            "EndpointStatus",
            f"endpoint {spec.endpoint}",
            {"InService"},
            {"Failed", "UpdateRollbackFailed", "OutOfService"},
            reporter,
            interval=interval,
        )
    except AwsError as exc:
        raise AwsError(
            f"{exc}. The endpoint, its config and model are kept for inspection; "
            f"byoc delete {spec.endpoint} removes them"
        ) from exc
    if described.get("EndpointConfigName") != name:  # SageMaker rolled the update back
        said = _roll_back(aws, name, made)
        raise AwsError(
            f"the update of {spec.endpoint} failed and SageMaker rolled it back: "
            f"{described.get('FailureReason', 'no FailureReason given')}; it still serves "
            f"{described.get('EndpointConfigName')}; {said}"
        )
    old_config = existing["EndpointConfigName"] if existing else None
    if old_config and old_config != name:
        delete_config_and_models(aws, old_config, reporter, only_ours=True)
    policy = _autoscale(aws, spec, reporter) if spec.scaling else None
    return {
        "endpoint": spec.endpoint,
        "endpoint_arn": described.get("EndpointArn"),
        "status": described["EndpointStatus"],
        "model": name,
        "endpoint_config": name,
        "updated": bool(existing),
        "scaling_policy": policy,
    }


def _autoscale(aws: Aws, spec: DeploySpec, reporter: Reporter) -> str:
    assert spec.scaling is not None
    s = spec.scaling
    resource = resource_id(spec.endpoint)
    aws.call(
        "application-autoscaling",
        "register_scalable_target",
        f"register-scalable-target {resource}",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        MinCapacity=s.min_instances,
        MaxCapacity=s.max_instances,
    )
    policy = f"{spec.endpoint}-invocations"
    aws.call(
        "application-autoscaling",
        "put_scaling_policy",
        f"put-scaling-policy {policy}",
        PolicyName=policy,
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": s.invocations_per_instance,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": s.scale_in_cooldown,
            "ScaleOutCooldown": s.scale_out_cooldown,
        },
    )
    reporter.info(
        f"autoscaling {resource}: {s.min_instances}-{s.max_instances} instances, "
        f"target {s.invocations_per_instance:g} invocations per instance per minute"
    )
    return policy
