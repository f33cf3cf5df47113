"""``byoc delete``: an endpoint and what ``byoc deploy`` made for it.

The scaling policy and scalable target, the endpoint, its config and the config's models,
each named as it goes. Old configs replaced by a later deploy are removed only when they
carry byoc's tag.
"""

from __future__ import annotations

from .clients import Aws
from .errors import InputError
from .progress import Reporter
from .validate import check_name

__all__ = ["delete_config_and_models", "delete_endpoint"]

TAG = "byoc:endpoint"
VARIANT = "AllTraffic"


def resource_id(endpoint: str) -> str:
    """The Application Auto Scaling resource of the endpoint's variant."""
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def _is_ours(aws: Aws, arn: str) -> bool:
    tags = aws.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return any(tag["Key"] == TAG for tag in tags)


def delete_config_and_models(
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
    from .deploy import describe_endpoint

    described = describe_endpoint(aws, name)
    if described is None:
        raise InputError(f"endpoint {name} does not exist in {aws.region}")
    removed: list[str] = []
    scaling = aws.client("application-autoscaling")
    resource = resource_id(name)
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
    removed += delete_config_and_models(
        aws, described["EndpointConfigName"], reporter, only_ours=False
    )
    return removed
