"""``byoc transform | marketplace``: the AWS jobs that wait (see ``cli_aws``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .cli_aws import aws_command
from .cli_deploy import ROLE_HELP, env_pairs

__all__ = ["marketplace", "transform"]


@click.command()
@click.option("--model", required=True, help="SageMaker model name (made if --image is given).")
@click.option("--input", "input_", required=True, help="s3:// prefix, or a local file/dir.")
@click.option("--output", required=True, help="s3:// prefix for <input>.out files.")
@click.option("--image", help="Create --model from this image first (with --model-data).")
@click.option("--model-data")
@click.option("--role", envvar="SAGEMAKER_ROLE", help=ROLE_HELP)
@click.option("--content-type", default="text/csv", show_default=True)
@click.option("--accept")
@click.option("--instance-type", default="ml.m5.large", show_default=True)
@click.option("--instance-count", type=int, default=1, show_default=True)
@click.option("--split-type", default="Line", show_default=True)
@click.option("--batch-strategy", default="MultiRecord", show_default=True)
@click.option("--max-payload", type=int, help="MB, 0-100 (0: stream each file).")
@click.option("--max-concurrent", type=int)
@click.option("--assemble-with", default="Line", show_default=True)
@click.option("--join-source", default="None", show_default=True)
@click.option("--input-filter")
@click.option("--output-filter")
@click.option("--job-name")
@click.option("--env", "env", multiple=True, help="KEY=VALUE for the container (repeat).")
@aws_command
def transform(
    connect: Any,
    reporter: Any,
    model: str,
    input_: str,
    output: str,
    image: str | None,
    model_data: str | None,
    role: str | None,
    content_type: str,
    accept: str | None,
    instance_type: str,
    instance_count: int,
    split_type: str,
    batch_strategy: str,
    max_payload: int | None,
    max_concurrent: int | None,
    assemble_with: str,
    join_source: str,
    input_filter: str | None,
    output_filter: str | None,
    job_name: str | None,
    env: tuple[str, ...],
) -> None:
    """Run a batch transform job and wait for it."""
    from .aws import TransformSpec, run_transform
    from .aws.transform import input_prefix_for, upload_inputs
    from .aws.validate import S3Uri

    aws = connect()
    spec = TransformSpec(
        model,
        input_ if input_.startswith("s3://") else input_prefix_for(output),
        output,
        content_type,
        accept,
        instance_type,
        instance_count,
        split_type,
        batch_strategy,
        max_payload,
        max_concurrent,
        assemble_with,
        join_source,
        input_filter,
        output_filter,
        image,
        model_data,
        role,
        job_name,
        tuple(env_pairs(env).items()),
    )
    if not input_.startswith("s3://"):
        from .aws.transform import validate

        validate(aws, spec)
        upload_inputs(aws, Path(input_), S3Uri.parse(spec.input), reporter)
    result = run_transform(aws, spec, reporter)
    reporter.result(result, f"transform job {result['job']} {result['status']}: {output}")


@click.command()
@click.argument("name")
@click.option("--image", required=True, help="ECR image URI.")
@click.option("--model-data", required=True, help="s3://…/model.tar.gz")
@click.option("--role", envvar="SAGEMAKER_ROLE", required=True, help=ROLE_HELP)
@click.option(
    "--sample",
    type=click.Path(path_type=Path),
    required=True,
    help="Sample input for the validation transform job.",
)
@click.option("--sample-type", default="text/csv", show_default=True)
@click.option("--sample-prefix", required=True, help="s3:// prefix for the validation job.")
@click.option(
    "--model",
    "local_model",
    type=click.Path(path_type=Path),
    help="Local model dir or model.tar.gz: probe the image for its media types.",
)
@click.option("--local-image", help="Local image to probe (default: --image).")
@click.option(
    "--content-type",
    "content_types",
    multiple=True,
    help="Supported request types (instead of probing).",
)
@click.option("--accept", "accepts", multiple=True, help="Supported response types.")
@click.option("--realtime-instance-type", "realtime", multiple=True)
@click.option("--transform-instance-type", "batch", multiple=True)
@click.option("--description", default="")
@aws_command
def marketplace(
    connect: Any,
    reporter: Any,
    name: str,
    image: str,
    model_data: str,
    role: str,
    sample: Path,
    sample_type: str,
    sample_prefix: str,
    local_model: Path | None,
    local_image: str | None,
    content_types: tuple[str, ...],
    accepts: tuple[str, ...],
    realtime: tuple[str, ...],
    batch: tuple[str, ...],
    description: str,
) -> None:
    """Create a Marketplace model package validated by a transform job over --sample."""
    from .aws import InputError, PackageSpec, create_model_package
    from .aws.capabilities import probe_media_types
    from .aws.marketplace import validate

    aws = connect()
    spec = PackageSpec(
        name,
        image,
        model_data,
        role,
        sample,
        sample_type,
        sample_prefix,
        tuple(content_types),
        tuple(accepts),
        description=description,
    )
    if realtime:
        spec = replace(spec, realtime_instance_types=realtime)
    if batch:
        spec = replace(spec, transform_instance_types=batch)
    if not (content_types and accepts):
        if local_model is None:
            raise InputError("pass --model (to probe the image) or --content-type and --accept")
        validate(aws, spec, media_types=False)
        support = probe_media_types(
            local_image or image, local_model, sample.read_bytes(), sample_type, reporter
        )
        spec = replace(
            spec,
            content_types=content_types or support.content_types,
            accept=accepts or support.accept,
        )
    result = create_model_package(aws, spec, reporter)
    reporter.result(result, f"model package {result['arn']}: {result['status']}")
