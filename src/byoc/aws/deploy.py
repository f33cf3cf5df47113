"""``byoc deploy`` / ``byoc delete``: a model, its endpoint config and the endpoint.

Deploy creates a new model and endpoint config each time (named after the endpoint and a
timestamp, tagged ``byoc:endpoint``), then creates the endpoint or points the existing one
at the new config, waits until it is ``InService``, removes the configs and models the
endpoint no longer uses (only those byoc made), and sets up target-tracking autoscaling
when asked. Delete removes the endpoint, its config, its models and its scaling policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .clients import Aws
from .errors import InputError, error_code
from .progress import Reporter
from .s3 import check_object, check_same_region
from .validate import (
    S3Uri,
    check_instance_type,
    check_name,
    check_role_arn,
    check_serverless,
    ecr_image_region,
)
from .waiting import wait_for_status

__all__ = ["DeploySpec", "Scaling", "delete_endpoint", "deploy", "describe_endpoint"]

TAG = "byoc:endpoint"
VARIANT = "AllTraffic"


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
    if len(spec.endpoint) > 48:
        raise InputError(f"endpoint name {spec.endpoint!r}: at most 48 characters for byoc")
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


def describe_endpoint(aws: Aws, name: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = aws.client("sagemaker").describe_endpoint(EndpointName=name)
    except Exception as exc:
        if error_code(exc) == "ValidationException" and "not found" in str(exc).lower():
            return None
        if error_code(exc) == "ValidationException" and "could not find" in str(exc).lower():
            return None
        raise
    return result


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


def deploy(
    aws: Aws, spec: DeploySpec, reporter: Reporter | None = None, interval: float = 15
) -> dict[str, Any]:
    reporter = reporter or Reporter("quiet")
    validate(aws, spec)
    existing = describe_endpoint(aws, spec.endpoint)
    if existing and existing["EndpointStatus"] not in ("InService", "Failed"):
        raise InputError(
            f"endpoint {spec.endpoint} is {existing['EndpointStatus']}; wait until it is "
            "InService (or Failed) before deploying again"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{spec.endpoint}-{stamp}"
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
    reporter.info(f"created model {name} ({spec.image})")
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [_variant(spec, name)],
        "Tags": tags,
    }
    if spec.async_output:
        config["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": spec.async_output}}
    aws.call("sagemaker", "create_endpoint_config", f"create-endpoint-config {name}", **config)
    reporter.info(f"created endpoint config {name}")
    old_config = existing["EndpointConfigName"] if existing else None
    if existing:
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
            Tags=tags,
        )
        reporter.info(f"creating endpoint {spec.endpoint}")
    described = wait_for_status(
        lambda: aws.client("sagemaker").describe_endpoint(EndpointName=spec.endpoint),
        "EndpointStatus",
        f"endpoint {spec.endpoint}",
        {"InService"},
        {"Failed"},
        reporter,
        interval=interval,
    )
    if old_config and old_config != name:
        _delete_config_and_models(aws, old_config, reporter, only_ours=True)
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


def _resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def _autoscale(aws: Aws, spec: DeploySpec, reporter: Reporter) -> str:
    assert spec.scaling is not None
    s = spec.scaling
    resource = _resource_id(spec.endpoint)
    aws.call(
        "application-autoscaling",
        "register_scalable_target",
        f"register-scalable-target {resource}",
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
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
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
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


def _is_ours(aws: Aws, arn: str) -> bool:
    tags = aws.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return any(tag["Key"] == TAG for tag in tags)


def _delete_config_and_models(
    aws: Aws, config_name: str, reporter: Reporter, only_ours: bool
) -> list[str]:
    removed: list[str] = []
    sm = aws.client("sagemaker")
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    except Exception as exc:
        reporter.warn(f"endpoint config {config_name} not removed: {exc}")
        return removed
    if only_ours and not _is_ours(aws, config["EndpointConfigArn"]):
        return removed
    aws.call(
        "sagemaker",
        "delete_endpoint_config",
        f"delete-endpoint-config {config_name}",
        EndpointConfigName=config_name,
    )
    removed.append(f"endpoint config {config_name}")
    for variant in config["ProductionVariants"]:
        model = variant["ModelName"]
        try:
            sm.delete_model(ModelName=model)
            removed.append(f"model {model}")
        except Exception as exc:
            reporter.warn(f"model {model} not removed: {exc}")
    for item in removed:
        reporter.info(f"removed {item}")
    return removed


def delete_endpoint(aws: Aws, name: str, reporter: Reporter | None = None) -> list[str]:
    """Remove the endpoint, its scaling policy, its config and models; what was removed."""
    reporter = reporter or Reporter("quiet")
    check_name(name, "endpoint name")
    described = describe_endpoint(aws, name)
    if described is None:
        raise InputError(f"endpoint {name} does not exist in {aws.region}")
    removed: list[str] = []
    scaling = aws.client("application-autoscaling")
    resource = _resource_id(name)
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    ).get("ScalableTargets", [])
    if targets:
        policies = scaling.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource
        ).get("ScalingPolicies", [])
        for policy in policies:
            scaling.delete_scaling_policy(
                PolicyName=policy["PolicyName"],
                ServiceNamespace="sagemaker",
                ResourceId=resource,
                ScalableDimension=policy["ScalableDimension"],
            )
            removed.append(f"scaling policy {policy['PolicyName']}")
        scaling.deregister_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        )
        removed.append(f"scalable target {resource}")
    for item in removed:
        reporter.info(f"removed {item}")
    aws.call("sagemaker", "delete_endpoint", f"delete-endpoint {name}", EndpointName=name)
    reporter.info(f"removed endpoint {name}")
    removed.append(f"endpoint {name}")
    removed += _delete_config_and_models(
        aws, described["EndpointConfigName"], reporter, only_ours=False
    )
    return removed
