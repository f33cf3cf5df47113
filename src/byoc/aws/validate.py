"""Checks made before anything is created, each failing with one message that says the fix."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import InputError

__all__ = [
    "HOSTING_INSTANCE_TYPES",
    "TRANSFORM_INSTANCE_TYPES",
    "S3Uri",
    "check_instance_type",
    "check_name",
    "check_repository",
    "check_role_arn",
    "check_serverless",
    "check_tag",
    "ecr_image_region",
]

# ECR's own patterns (CreateRepository, PutImage).
_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# SageMaker's pattern for model, endpoint, config, job and package names.
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_ECR_IMAGE = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+)")

_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")


def _family(name: str, sizes: tuple[str, ...] = _SIZES) -> set[str]:
    return {f"ml.{name}.{size}" for size in sizes}


# SageMaker real-time hosting instance types (CPU and GPU families; the documented list).
HOSTING_INSTANCE_TYPES = frozenset(
    {"ml.t2.medium", "ml.t2.large", "ml.t2.xlarge", "ml.t2.2xlarge"}
    | {"ml.m5.large", "ml.m5d.large", "ml.c5.large", "ml.c5d.large", "ml.r5.large"}
    | _family("m5")
    | _family("m5d")
    | _family("m6i", (*_SIZES, "32xlarge"))
    | _family("m7i", (*_SIZES, "48xlarge"))
    | _family("c5", ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"))
    | _family("c5d", ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"))
    | _family("c6i", (*_SIZES, "32xlarge"))
    | _family("c7i", (*_SIZES, "48xlarge"))
    | _family("r5", _SIZES)
    | _family("r6i", (*_SIZES, "32xlarge"))
    | _family("g4dn", ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"))
    | _family(
        "g5",
        ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    )
    | _family(
        "g6",
        ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    )
    | {"ml.p3.2xlarge", "ml.p3.8xlarge", "ml.p3.16xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge"}
    | {"ml.inf1.xlarge", "ml.inf1.2xlarge", "ml.inf1.6xlarge", "ml.inf1.24xlarge"}
    | {"ml.inf2.xlarge", "ml.inf2.8xlarge", "ml.inf2.24xlarge", "ml.inf2.48xlarge"}
)
# Batch transform offers no burstable (t2) instances.
TRANSFORM_INSTANCE_TYPES = frozenset(t for t in HOSTING_INSTANCE_TYPES if not t.startswith("ml.t"))


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


def check_instance_type(
    instance_type: str, allowed: frozenset[str] = HOSTING_INSTANCE_TYPES
) -> str:
    if instance_type in allowed:
        return instance_type
    near = difflib.get_close_matches(instance_type, sorted(allowed), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    if not instance_type.startswith("ml."):
        hint = f"; SageMaker instance types start with 'ml.' (ml.{instance_type}?)" + hint
    use = "batch transform" if allowed is TRANSFORM_INSTANCE_TYPES else "endpoints"
    raise InputError(f"SageMaker offers no instance type {instance_type!r} for {use}{hint}")


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
