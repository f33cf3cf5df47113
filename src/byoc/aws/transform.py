"""``byoc transform``: a batch transform job over S3 data, waited for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clients import Aws
from .deploy import stamp
from .errors import AwsError, InputError
from .progress import Reporter
from .s3 import check_object, check_same_region, upload_file
from .validate import (
    TRANSFORM,
    S3Uri,
    check_instance_type,
    check_json_path,
    check_name,
    check_role_arn,
)
from .waiting import wait_for_status

__all__ = ["TransformSpec", "run_transform", "upload_inputs"]

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
ASSEMBLE_WITH = ("None", "Line")
JOIN_SOURCES = ("None", "Input")


@dataclass(frozen=True)
class TransformSpec:
    model: str  # an existing SageMaker model, or the name of the one made from image
    input: str  # s3:// prefix
    output: str  # s3:// prefix
    content_type: str = "text/csv"
    accept: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    split_type: str = "Line"
    batch_strategy: str = "MultiRecord"
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: str = "Line"
    join_source: str = "None"
    input_filter: str | None = None
    output_filter: str | None = None
    image: str | None = None  # with model_data and role: create the model first
    model_data: str | None = None
    role: str | None = None
    job_name: str | None = None
    environment: tuple[tuple[str, str], ...] = ()


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise InputError(f"{what} {value!r}: must be one of {', '.join(allowed)}")


def validate(aws: Aws, spec: TransformSpec) -> None:
    check_name(spec.model, "model name")
    if spec.job_name:
        check_name(spec.job_name, "transform job name")
    _one_of(spec.split_type, SPLIT_TYPES, "split type")
    _one_of(spec.batch_strategy, BATCH_STRATEGIES, "batch strategy")
    _one_of(spec.assemble_with, ASSEMBLE_WITH, "assemble with")
    _one_of(spec.join_source, JOIN_SOURCES, "join source")
    check_instance_type(spec.instance_type, TRANSFORM)
    if spec.instance_count < 1:
        raise InputError(f"instance count {spec.instance_count}: must be at least 1")
    if spec.max_payload_mb is not None and not 0 <= spec.max_payload_mb <= 100:
        raise InputError(f"max payload {spec.max_payload_mb} MB: must be 0-100")
    if spec.max_concurrent is not None and spec.max_concurrent < 1:
        raise InputError(f"max concurrent transforms {spec.max_concurrent}: must be >= 1")
    if (
        spec.max_payload_mb
        and spec.max_concurrent
        and spec.max_payload_mb * spec.max_concurrent > 100
    ):
        raise InputError(
            f"max payload {spec.max_payload_mb} MB x {spec.max_concurrent} concurrent "
            "transforms exceeds SageMaker's 100 MB"
        )
    check_json_path(spec.input_filter, "input filter")
    check_json_path(spec.output_filter, "output filter")
    if spec.join_source == "Input" and spec.accept not in (None, "application/json", "text/csv"):
        raise InputError("join source Input needs JSON or CSV output (--accept)")
    if spec.image:
        if not (spec.role and spec.model_data):
            raise InputError("--image needs --model-data and --role to create the model")
        check_role_arn(spec.role, aws.account())
        model_data = S3Uri.parse(spec.model_data, "model data")
        check_same_region(aws, model_data, "model data")
        check_object(aws, model_data, "model data")
    for uri, what in ((spec.input, "transform input"), (spec.output, "transform output")):
        check_same_region(aws, S3Uri.parse(uri, what), what)


def input_prefix_for(output: str) -> str:
    """Where a local input is uploaded: beside the output, in the output's bucket."""
    uri = S3Uri.parse(output, "transform output")
    key = uri.key.rstrip("/")
    return str(S3Uri(uri.bucket, f"{key}-input/" if key else "byoc-transform-input/"))


def upload_inputs(aws: Aws, source: Path, prefix: S3Uri, reporter: Reporter) -> S3Uri:
    """Upload a local file, or every file of a directory, under ``prefix``."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    if not files:
        raise InputError(f"{source} holds no input files")
    for path in files:
        relative = path.name if source.is_file() else path.relative_to(source).as_posix()
        upload_file(aws, path, prefix.child(relative), reporter)
    return prefix


def run_transform(
    aws: Aws, spec: TransformSpec, reporter: Reporter | None = None, interval: float = 15
) -> dict[str, Any]:
    reporter = reporter or Reporter("quiet")
    validate(aws, spec)
    job = spec.job_name or f"{spec.model[:45]}-{stamp()}"
    if spec.image:
        aws.call(
            "sagemaker",
            "create_model",
            f"sagemaker create-model {spec.model}",
            ModelName=spec.model,
            ExecutionRoleArn=spec.role,
            PrimaryContainer={
                "Image": spec.image,
                "ModelDataUrl": spec.model_data,
                "Environment": dict(spec.environment),
            },
        )
        reporter.info(f"created model {spec.model}")
    params: dict[str, Any] = {
        "TransformJobName": job,
        "ModelName": spec.model,
        "BatchStrategy": spec.batch_strategy,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input}},
            "ContentType": spec.content_type,
            "SplitType": spec.split_type,
        },
        "TransformOutput": {"S3OutputPath": spec.output, "AssembleWith": spec.assemble_with},
        "TransformResources": {
            "InstanceType": spec.instance_type,
            "InstanceCount": spec.instance_count,
        },
        "DataProcessing": {"JoinSource": spec.join_source},
    }
    if spec.accept:
        params["TransformOutput"]["Accept"] = spec.accept
    if spec.max_payload_mb is not None:
        params["MaxPayloadInMB"] = spec.max_payload_mb
    if spec.max_concurrent is not None:
        params["MaxConcurrentTransforms"] = spec.max_concurrent
    if spec.input_filter:
        params["DataProcessing"]["InputFilter"] = spec.input_filter
    if spec.output_filter:
        params["DataProcessing"]["OutputFilter"] = spec.output_filter
    if spec.environment and not spec.image:
        params["Environment"] = dict(spec.environment)
    try:
        aws.call("sagemaker", "create_transform_job", f"create-transform-job {job}", **params)
    except AwsError as exc:
        if not spec.image:
            raise
        try:
            aws.call("sagemaker", "delete_model", "delete-model", ModelName=spec.model)
            said = f"removed the model {spec.model} it had created"
        except AwsError as again:
            said = f"the model {spec.model} it created is left: {again}"
        raise AwsError(f"{exc}; {said}") from exc
    reporter.info(f"started transform job {job}: {spec.input} -> {spec.output}")
    described = wait_for_status(
        lambda: aws.call(
            "sagemaker", "describe_transform_job", "describe-transform-job", TransformJobName=job
        ),
        "TransformJobStatus",
        f"transform job {job}",
        {"Completed"},
        {"Failed", "Stopped"},
        reporter,
        timeout=4 * 3600,
        interval=interval,
    )
    return {"job": job, "status": described["TransformJobStatus"], "output": spec.output}
