"""Checks made before anything is created, each failing with one message that says the fix."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from .errors import InputError

__all__ = [
    "HOSTING",
    "TRANSFORM",
    "S3Uri",
    "check_instance_type",
    "check_json_path",
    "check_name",
    "check_repository",
    "check_role_arn",
    "check_serverless",
    "check_tag",
    "ecr_image_region",
    "instance_types",
]

# ECR's own patterns (botocore's RepositoryName; PutImage's tag).
_REPOSITORY = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# SageMaker's pattern for model, endpoint, config, job and package names.
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_ECR_IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+)")

HOSTING = "ProductionVariantInstanceType"  # botocore's enum of endpoint instance types
TRANSFORM = "TransformInstanceType"  # and of batch transform ones


@functools.cache
def instance_types(shape: str) -> frozenset[str]:
    """The instance types SageMaker's API model (botocore's) lists for ``shape``."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(shape).enum)


def check_repository(name: str) -> str:
    if not 2 <= len(name) <= 256 or not _REPOSITORY.fullmatch(name):
        raise InputError(
            f"invalid ECR repository name {name!r}: lower-case letters, digits and . _ - /, "
            "starting and ending with a letter or digit, 2-256 characters"
        )
    return name


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise InputError(
            f"invalid image tag {tag!r}: letters, digits, _ . -, not starting with . or -, "
            "at most 128 characters"
        )
    return tag


def check_name(name: str, what: str = "name") -> str:
    if not _NAME.fullmatch(name):
        raise InputError(
            f"invalid {what} {name!r}: letters, digits and hyphens, starting with a letter or "
            "digit, at most 63 characters (SageMaker's rule)"
        )
    return name


def check_role_arn(role: str, account: str | None = None) -> str:
    """An IAM role ARN; a bare role name gets the ARN it probably meant."""
    if _ROLE_ARN.fullmatch(role):
        return role
    if role and "arn:" not in role and "/" not in role.strip("/"):
        guess = f"arn:aws:iam::{account or 'ACCOUNT_ID'}:role/{role}"
        raise InputError(
            f"the execution role must be an IAM role ARN, not a name: {role!r} — did you mean "
            f"{guess}? (SageMaker's CreateModel, CreateModelPackage and CreateTransformJob take "
            "ARNs only)"
        )
    raise InputError(f"{role!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)")


def check_instance_type(instance_type: str, shape: str = HOSTING) -> str:
    allowed = instance_types(shape)
    if instance_type in allowed:
        return instance_type
    near = difflib.get_close_matches(instance_type, sorted(allowed), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    if not instance_type.startswith("ml."):
        hint = f"; SageMaker instance types start with 'ml.' (ml.{instance_type}?)" + hint
    use = "batch transform" if shape == TRANSFORM else "endpoints"
    raise InputError(
        f"SageMaker offers no instance type {instance_type!r} for {use}{hint} (the list is "
        "botocore's: a newer boto3 knows newer types)"
    )


def check_json_path(expression: str | None, what: str) -> None:
    if expression is not None and (not expression.startswith("$") or len(expression) > 63):
        raise InputError(f"{what} {expression!r}: a JSONPath starting with $, at most 63 chars")


def check_serverless(memory_mb: int, max_concurrency: int) -> None:
    if not 1024 <= memory_mb <= 6144 or memory_mb % 1024:
        raise InputError(
            f"serverless memory {memory_mb} MB: must be 1024, 2048, 3072, 4096, 5120 or 6144"
        )
    if not 1 <= max_concurrency <= 200:
        raise InputError(f"serverless max concurrency {max_concurrency}: must be 1-200")


def ecr_image_region(image_uri: str) -> str | None:
    """The region of an ECR image URI, ``None`` for an image elsewhere."""
    match = _ECR_IMAGE.fullmatch(image_uri)
    return match.group(2) if match else None


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, what: str = "S3 location") -> S3Uri:
        if not uri.startswith("s3://"):
            raise InputError(f"{what} {uri!r} must be an s3://bucket/key URI")
        bucket, _, key = uri[5:].partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise InputError(f"{what} {uri!r}: {bucket!r} is not a valid S3 bucket name")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, name: str) -> S3Uri:
        prefix = self.key.rstrip("/")
        return S3Uri(self.bucket, f"{prefix}/{name}" if prefix else name)
