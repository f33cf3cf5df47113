"""``byoc push | package | deploy | invoke | delete | transform | marketplace``.

Thin click commands over ``byoc.aws``: options in, one library call, the result out (a
line, or JSON with ``--json``). Progress goes to stderr; ``--quiet`` keeps only the result.
Every ``AwsError`` is one ``byoc: …`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["login", "package", "push"]

F = TypeVar("F", bound=Callable[..., Any])


def aws_command(function: F) -> F:
    """Common options (region, endpoint, profile, output) and the error handling.

    The command gets ``connect``, which makes the ``Aws`` (and checks region and
    credentials) when first called, and a ``Reporter``.
    """

    @click.option("--region", help="Default: AWS_REGION / AWS_DEFAULT_REGION / the profile's.")
    @click.option(
        "--endpoint-url",
        default=lambda: os.environ.get("BYOC_AWS_ENDPOINT_URL"),
        help="Another AWS endpoint for every service (a moto server, a VPC endpoint).",
    )
    @click.option("--profile", help="An AWS CLI profile.")
    @click.option("--quiet", "-q", is_flag=True, help="Print only the result.")
    @click.option("--json", "as_json", is_flag=True, help="Events and result as JSON lines.")
    @functools.wraps(function)
    def wrapper(
        region: str | None,
        endpoint_url: str | None,
        profile: str | None,
        quiet: bool,
        as_json: bool,
        **options: Any,
    ) -> None:
        from .aws import Aws, AwsError, Reporter

        reporter = Reporter("json" if as_json else "quiet" if quiet else "auto")
        made: list[Aws] = []

        def connect() -> Aws:
            if not made:
                made.append(Aws.connect(region, endpoint_url or None, profile))
            return made[0]

        from botocore.exceptions import BotoCoreError, ClientError

        from .local import DockerError

        try:
            function(connect, reporter, **options)
        except (AwsError, BotoCoreError, ClientError, DockerError) as exc:
            # AwsError says what failed; the others come from a call not yet wrapped in one
            code = exc.exit_code if isinstance(exc, AwsError) else 1
            message = str(exc) if isinstance(exc, AwsError) else f"{type(exc).__name__}: {exc}"
            if as_json:
                click.echo(json.dumps({"error": message}), err=True)
            else:
                click.echo(f"byoc: {message}", err=True)
            sys.exit(code)

    return wrapper  # type: ignore[return-value]


@click.command()
@click.argument("image")
@click.option("--repository", help="ECR repository (default: the image's name).")
@click.option("--tag", "tags", multiple=True, help="Tags (default: version, revision, latest).")
@click.option("--immutable-tags", is_flag=True, help="Create the repository with immutable tags.")
@click.option(
    "--registry",
    default=lambda: os.environ.get("BYOC_ECR_REGISTRY"),
    help="Push to this registry host instead of the one ECR reports (a mirror; tests).",
)
@aws_command
def push(
    connect: Any,
    reporter: Any,
    image: str,
    repository: str | None,
    tags: tuple[str, ...],
    immutable_tags: bool,
    registry: str | None,
) -> None:
    """Push a local IMAGE to ECR (creating the repository) and print its URI."""
    from .aws import push_image

    result = push_image(
        connect(), image, repository, list(tags), immutable_tags, registry, reporter
    )
    reporter.info(f"pushed in {result.seconds:.1f}s, digest {result.digest}")
    data = {**result.__dict__, "uris": list(result.uris)}
    reporter.result(data, result.image_uri)


@click.command()
@click.option(
    "--registry",
    default=lambda: os.environ.get("BYOC_ECR_REGISTRY"),
    help="Log in to this registry host instead of the one ECR reports.",
)
@aws_command
def login(connect: Any, reporter: Any, registry: str | None) -> None:
    """docker login to the account's ECR registry (credentials kept in ~/.docker)."""
    from .aws.ecr import login as ecr_login

    host = ecr_login(connect(), registry)
    reporter.result({"registry": host}, f"logged in to {host}")


@click.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--code", "code_dir", type=click.Path(path_type=Path), help="Put under code/.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("model.tar.gz"),
    show_default=True,
)
@click.option("--upload", help="s3://bucket/prefix (or a key ending in .tar.gz) to upload to.")
@aws_command
def package(
    connect: Any,
    reporter: Any,
    model_dir: Path,
    code_dir: Path | None,
    output: Path,
    upload: str | None,
) -> None:
    """Write a deterministic model.tar.gz from MODEL_DIR (and --code), and upload it."""
    from .aws import package_model
    from .aws.s3 import check_same_region, upload_file
    from .aws.validate import S3Uri

    target = aws = None
    if upload:
        target = S3Uri.parse(upload, "--upload")
        if not target.key.endswith(".tar.gz"):
            target = target.child(output.name)
        aws = connect()
        check_same_region(aws, target, "upload target")
    archive = package_model(model_dir, output, code_dir)
    reporter.info(
        f"{archive.path}: {len(archive.files)} files, {archive.size} bytes, sha256 {archive.sha256}"
    )
    if archive.skipped:
        reporter.info("left out: " + ", ".join(archive.skipped))
    data: dict[str, Any] = {
        "archive": str(archive.path),
        "files": list(archive.files),
        "bytes": archive.size,
        "sha256": archive.sha256,
    }
    if aws is not None and target is not None:
        upload_file(aws, archive.path, target, reporter)
        data["uri"] = str(target)
    reporter.result(data, data.get("uri", str(archive.path)))
