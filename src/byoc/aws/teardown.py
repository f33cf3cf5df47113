"""``byoc delete``: an endpoint and what ``byoc deploy`` made for it.

The scaling policy and scalable target, the endpoint, its config and the config's models,
each named as it goes. Old configs replaced by a later deploy are removed only when they
carry byoc's tag.
"""

from __future__ import annotations

from typing import Any

from .clients import Aws
from .errors import InputError, client_error, error_code
from .progress import Reporter
from .validate import check_name

__all__ = [
    "delete_config_and_models",
    "delete_endpoint",
    "describe_endpoint",
    "remove_scaling",
    "resource_id",
]

TAG = "byoc:endpoint"
VARIANT = "AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def resource_id(endpoint: str) -> str:
    """The Application Auto Scaling resource of the endpoint's variant."""
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def _is_ours(aws: Aws, arn: str) -> bool:
    tags = aws.call("sagemaker", "list_tags", f"list-tags {arn}", ResourceArn=arn).get("Tags", [])
    return any(tag["Key"] == TAG for tag in tags)


def delete_config_and_models(
    aws: Aws, config_name: str, reporter: Reporter, only_ours: bool
) -> list[str]:
    removed: list[str] = []
    sm = aws.client("sagemaker")
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    except Exception as exc:
        reporter.warn(f"endpoint config {config_name} not removed: {client_error(exc, 'describe')}")
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


def describe_endpoint(aws: Aws, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or ``None`` when there is no such endpoint."""
    try:
        result: dict[str, Any] = aws.client("sagemaker").describe_endpoint(EndpointName=name)
    except Exception as exc:
        text = str(exc).lower()
        if error_code(exc) == "ValidationException" and (
            "not found" in text or "could not find" in text
        ):
            return None
        raise client_error(exc, f"sagemaker describe-endpoint {name}") from exc
    return result


def remove_scaling(aws: Aws, endpoint: str, reporter: Reporter) -> list[str]:
    """Delete the variant's scaling policies and deregister its scalable target, if any."""
    removed: list[str] = []
    resource = resource_id(endpoint)
    doing = f"application-autoscaling for {resource}"
    targets = aws.call(
        "application-autoscaling",
        "describe_scalable_targets",
        doing,
        ServiceNamespace="sagemaker",
        ResourceIds=[resource],
    ).get("ScalableTargets", [])
    if not targets:
        return removed
    policies = aws.call(
        "application-autoscaling",
        "describe_scaling_policies",
        doing,
        ServiceNamespace="sagemaker",
        ResourceId=resource,
    ).get("ScalingPolicies", [])
    for policy in policies:
        aws.call(
            "application-autoscaling",
            "delete_scaling_policy",
            doing,
            PolicyName=policy["PolicyName"],
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=policy["ScalableDimension"],
        )
        removed.append(f"scaling policy {policy['PolicyName']}")
    aws.call(
        "application-autoscaling",
        "deregister_scalable_target",
        doing,
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=DIMENSION,
    )
    removed.append(f"scalable target {resource}")
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
    removed = remove_scaling(aws, name, reporter)
    aws.call("sagemaker", "delete_endpoint", f"delete-endpoint {name}", EndpointName=name)
    reporter.info(f"removed endpoint {name}")
    removed.append(f"endpoint {name}")
    removed += delete_config_and_models(
        aws, described["EndpointConfigName"], reporter, only_ours=False
    )
    return removed
