"""``byoc marketplace``: a model package for AWS Marketplace, validated by a transform job.

CreateModelPackage with an InferenceSpecification (image, model data, the media types the
image really handles, instance types) and a ValidationSpecification (a batch transform
over sample data uploaded to S3), ``CertifyForMarketplace``; then waits while SageMaker
validates it and scans the image, showing ValidationStatuses and ImageScanStatuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clients import Aws
from .errors import AwsError, InputError
from .progress import Reporter
from .s3 import check_object, check_same_region, upload_file
from .validate import (
    HOSTING,
    TRANSFORM,
    S3Uri,
    check_instance_type,
    check_name,
    check_role_arn,
    ecr_image_region,
)
from .waiting import wait_for_status

__all__ = ["PackageSpec", "create_model_package"]


@dataclass(frozen=True)
class PackageSpec:
    name: str
    image: str
    model_data: str
    role: str  # ValidationRole: SageMaker runs the validation transform job as it
    sample: Path  # sample input for the validation job
    sample_content_type: str
    sample_prefix: str  # s3:// prefix the sample is uploaded to (validation output below it)
    content_types: tuple[str, ...]
    accept: tuple[str, ...]
    realtime_instance_types: tuple[str, ...] = ("ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge")
    transform_instance_types: tuple[str, ...] = ("ml.m5.large", "ml.m5.xlarge")
    description: str = ""
    split_type: str = "Line"


def validate(aws: Aws, spec: PackageSpec, media_types: bool = True) -> None:
    """Everything but the media types (``media_types=False``, checked before probing)."""
    check_name(spec.name, "model package name")
    check_role_arn(spec.role, aws.account())
    region = ecr_image_region(spec.image)
    if region is None:
        raise InputError(f"Marketplace images must be in ECR (…dkr.ecr.REGION…): {spec.image}")
    if region != aws.region:
        raise InputError(f"image {spec.image} is in {region}, the package would be in {aws.region}")
    for instance_type in spec.realtime_instance_types:
        check_instance_type(instance_type, HOSTING)
    for instance_type in spec.transform_instance_types:
        check_instance_type(instance_type, TRANSFORM)
    if not spec.sample.is_file():
        raise InputError(f"sample input {spec.sample} is not a file")
    model_data = S3Uri.parse(spec.model_data, "model data")
    check_same_region(aws, model_data, "model data")
    check_object(aws, model_data, "model data")
    check_same_region(aws, S3Uri.parse(spec.sample_prefix, "sample prefix"), "sample prefix")
    if not media_types:
        return
    if not spec.content_types or not spec.accept:
        raise InputError("the package needs at least one content type and one response type")
    if spec.sample_content_type not in spec.content_types:
        raise InputError(
            f"the sample's type {spec.sample_content_type} is not among the content types "
            f"the image takes ({', '.join(spec.content_types)})"
        )


def create_model_package(
    aws: Aws, spec: PackageSpec, reporter: Reporter | None = None, interval: float = 30
) -> dict[str, Any]:
    reporter = reporter or Reporter("quiet")
    validate(aws, spec)
    prefix = S3Uri.parse(spec.sample_prefix, "sample prefix")
    sample_uri = prefix.child(f"input/{spec.sample.name}")
    upload_file(aws, spec.sample, sample_uri, reporter)
    profile = {
        "ProfileName": "validation",
        "TransformJobDefinition": {
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(prefix.child("input/"))}
                },
                "ContentType": spec.sample_content_type,
                "SplitType": spec.split_type,
            },
            "TransformOutput": {
                "S3OutputPath": str(prefix.child("output/")),
                "Accept": spec.accept[0],
            },
            "TransformResources": {
                "InstanceType": spec.transform_instance_types[0],
                "InstanceCount": 1,
            },
        },
    }
    created = aws.call(
        "sagemaker",
        "create_model_package",
        f"create-model-package {spec.name}",
        ModelPackageName=spec.name,
        ModelPackageDescription=spec.description or f"{spec.name} (byoc)",
        InferenceSpecification={
            "Containers": [{"Image": spec.image, "ModelDataUrl": spec.model_data}],
            "SupportedContentTypes": list(spec.content_types),
            "SupportedResponseMIMETypes": list(spec.accept),
            "SupportedRealtimeInferenceInstanceTypes": list(spec.realtime_instance_types),
            "SupportedTransformInstanceTypes": list(spec.transform_instance_types),
        },
        ValidationSpecification={"ValidationRole": spec.role, "ValidationProfiles": [profile]},
        CertifyForMarketplace=True,
    )
    arn = created["ModelPackageArn"]
    reporter.info(f"created model package {arn}; SageMaker now validates it and scans the image")

    def describe() -> dict[str, Any]:
        described: dict[str, Any] = aws.call(
            "sagemaker",
            "describe_model_package",
            "describe-model-package",
            ModelPackageName=spec.name,
        )
        return described

    try:
        described = wait_for_status(
            describe,
            "ModelPackageStatus",
            f"model package {spec.name}",
            {"Completed"},
            {"Failed", "Deleting"},
            reporter,
            timeout=4 * 3600,
            interval=interval,
        )
    except AwsError as exc:
        details = _statuses(describe())
        raise AwsError(
            f"{exc}; {details}. The package {spec.name} is kept (its name stays taken): "
            f"aws sagemaker delete-model-package --model-package-name {spec.name}"
        ) from exc
    details = _statuses(described)
    reporter.info(details)
    return {
        "arn": arn,
        "status": described["ModelPackageStatus"],
        "validation": described.get("ModelPackageStatusDetails", {}).get("ValidationStatuses"),
        "image_scan": described.get("ModelPackageStatusDetails", {}).get("ImageScanStatuses"),
        "certify_for_marketplace": described.get("CertifyForMarketplace"),
        "sample": str(sample_uri),
    }


def _statuses(described: dict[str, Any]) -> str:
    details = described.get("ModelPackageStatusDetails", {})
    parts = []
    for key in ("ValidationStatuses", "ImageScanStatuses"):
        for item in details.get(key, []):
            reason = f" ({item['FailureReason']})" if item.get("FailureReason") else ""
            parts.append(f"{key[:-8]} {item.get('Status')}{reason}")
    return "; ".join(parts) or "no validation or image scan status reported"
