"""``byoc invoke``: one request to an endpoint through sagemaker-runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clients import Aws
from .errors import AwsError, InputError, client_error
from .teardown import describe_endpoint
from .validate import check_name

__all__ = ["Invocation", "content_type_for", "invoke_endpoint"]

_BY_SUFFIX = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".npy": "application/x-npy",
    ".npz": "application/x-npz",
}
MAX_PAYLOAD = 6 * 1024 * 1024  # real-time endpoints (serverless: 4 MB)
MAX_CUSTOM_ATTRIBUTES = 1024
NOT_SERVING = ("Creating", "Deleting", "Failed", "OutOfService")


@dataclass(frozen=True)
class Invocation:
    body: bytes
    content_type: str
    invoked_variant: str | None
    custom_attributes: str | None


def content_type_for(path: Path) -> str:
    try:
        return _BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"cannot tell the content type of {path.name}: pass --content-type"
        ) from None


def invoke_endpoint(
    aws: Aws,
    endpoint: str,
    body: bytes,
    content_type: str,
    accept: str | None = None,
    custom_attributes: str | None = None,
    target_model: str | None = None,
) -> Invocation:
    check_name(endpoint, "endpoint name")
    if len(body) > MAX_PAYLOAD:
        raise InputError(f"payload is {len(body)} bytes; real-time endpoints take at most 6 MiB")
    if custom_attributes is not None and len(custom_attributes) > MAX_CUSTOM_ATTRIBUTES:
        raise InputError("custom attributes: at most 1024 characters")
    try:
        described = describe_endpoint(aws, endpoint)
    except AwsError as exc:
        if "AccessDenied" not in str(exc):
            raise
        described = {"EndpointStatus": "unknown"}  # an invoke-only role: let invoke say
    if described is None:
        raise InputError(f"endpoint {endpoint} does not exist in {aws.region}")
    if described["EndpointStatus"] in NOT_SERVING:  # Updating, SystemUpdating still serve
        raise InputError(f"endpoint {endpoint} is {described['EndpointStatus']}: not serving")
    params: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
    if accept:
        params["Accept"] = accept
    if custom_attributes:
        params["CustomAttributes"] = custom_attributes
    if target_model:
        params["TargetModel"] = target_model
    try:
        answer = aws.client("sagemaker-runtime").invoke_endpoint(**params)
    except Exception as exc:
        error = client_error(exc, f"invoking {endpoint}")
        original = getattr(exc, "response", {}).get("OriginalMessage")
        raise AwsError(
            f"{error} (the container said: {original})" if original else str(error)
        ) from exc
    return Invocation(
        answer["Body"].read(),
        answer.get("ContentType", ""),
        answer.get("InvokedProductionVariant"),
        answer.get("CustomAttributes"),
    )
