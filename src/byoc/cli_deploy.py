"""``byoc deploy | invoke | delete`` (see ``cli_aws``; the waiting jobs are in ``cli_jobs``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .cli_aws import aws_command
from .local import parse_env

__all__ = ["ROLE_HELP", "delete", "deploy", "env_pairs", "invoke"]

ROLE_HELP = "Execution role ARN (arn:aws:iam::ACCOUNT:role/NAME); default: SAGEMAKER_ROLE."


def env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    from .aws import InputError

    try:
        return parse_env(pairs)
    except ValueError as exc:
        raise InputError(str(exc)) from None


@click.command()
@click.argument("endpoint")
@click.option("--image", required=True, help="ECR image URI (byoc push prints it).")
@click.option("--model-data", help="s3://…/model.tar.gz (byoc package --upload prints it).")
@click.option("--role", envvar="SAGEMAKER_ROLE", required=True, help=ROLE_HELP)
@click.option("--env", "env", multiple=True, help="KEY=VALUE for the container (repeat).")
@click.option("--network-isolation", is_flag=True, help="No network in the container.")
@click.option("--instance-type", default="ml.m5.large", show_default=True)
@click.option("--instance-count", type=int, default=1, show_default=True)
@click.option("--serverless-memory", type=int, help="MB (1024-6144): a serverless endpoint.")
@click.option("--serverless-concurrency", type=int, default=5, show_default=True)
@click.option("--async-output", help="s3:// prefix: an asynchronous endpoint writing there.")
@click.option("--autoscale", help="MIN:MAX instances, target tracking on invocations.")
@click.option(
    "--target-invocations",
    type=float,
    default=100.0,
    show_default=True,
    help="Invocations per instance per minute the autoscaling aims at.",
)
@aws_command
def deploy(
    connect: Any,
    reporter: Any,
    endpoint: str,
    image: str,
    model_data: str | None,
    role: str,
    env: tuple[str, ...],
    network_isolation: bool,
    instance_type: str,
    instance_count: int,
    serverless_memory: int | None,
    serverless_concurrency: int,
    async_output: str | None,
    autoscale: str | None,
    target_invocations: float,
) -> None:
    """Create (or update) ENDPOINT serving IMAGE, wait until InService."""
    from .aws import DeploySpec, InputError, Scaling
    from .aws import deploy as run_deploy

    scaling = None
    if autoscale:
        low, sep, high = autoscale.partition(":")
        if not (sep and low.isdigit() and high.isdigit()):
            raise InputError(f"--autoscale takes MIN:MAX, got {autoscale!r}")
        scaling = Scaling(int(low), int(high), target_invocations)
    spec = DeploySpec(
        endpoint,
        image,
        role,
        model_data,
        env_pairs(env),
        network_isolation,
        None if serverless_memory else instance_type,
        instance_count,
        serverless_memory,
        serverless_concurrency,
        async_output,
        scaling,
    )
    result = run_deploy(connect(), spec, reporter)
    verb = "updated" if result["updated"] else "created"
    reporter.result(result, f"endpoint {endpoint} {verb}: {result['status']}")


@click.command()
@click.argument("endpoint")
@click.argument("payload", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--content-type", help="Default: from PAYLOAD's suffix (.csv, .json, …).")
@click.option("--accept")
@click.option("--custom-attributes")
@click.option("--target-model", help="Multi-model endpoints: the model's relative S3 path.")
@aws_command
def invoke(
    connect: Any,
    reporter: Any,
    endpoint: str,
    payload: Path,
    content_type: str | None,
    accept: str | None,
    custom_attributes: str | None,
    target_model: str | None,
) -> None:
    """Send PAYLOAD (a file, or - for stdin) to ENDPOINT; the answer goes to stdout."""
    from .aws import InputError, invoke_endpoint
    from .aws.invoke import content_type_for

    if str(payload) == "-":
        body = sys.stdin.buffer.read()
        if content_type is None:
            raise InputError("reading stdin: pass --content-type")
    else:
        if not payload.is_file():
            raise InputError(f"payload {payload} is not a file")
        body = payload.read_bytes()
    content_type = content_type or content_type_for(payload)
    answer = invoke_endpoint(
        connect(), endpoint, body, content_type, accept, custom_attributes, target_model
    )
    reporter.info(f"{endpoint} answered {answer.content_type} ({len(answer.body)} bytes)")
    if reporter.mode == "json":
        reporter.result(
            {
                "content_type": answer.content_type,
                "body": answer.body.decode(errors="replace"),
                "variant": answer.invoked_variant,
                "custom_attributes": answer.custom_attributes,
            },
            "",
        )
    else:
        sys.stdout.buffer.write(answer.body)
        sys.stdout.buffer.write(b"" if answer.body.endswith(b"\n") else b"\n")


@click.command()
@click.argument("endpoint")
@aws_command
def delete(connect: Any, reporter: Any, endpoint: str) -> None:
    """Remove ENDPOINT and what deploy made for it (config, models, scaling policy)."""
    from .aws import delete_endpoint

    removed = delete_endpoint(connect(), endpoint, reporter)
    reporter.result({"removed": removed}, "removed: " + ", ".join(removed))
