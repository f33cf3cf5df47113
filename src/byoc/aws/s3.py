"""S3: where a bucket lives, whether an object is there, and uploads with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .clients import Aws
from .errors import AwsError, InputError, client_error, error_code
from .progress import Reporter
from .validate import S3Uri

__all__ = ["bucket_region", "check_object", "upload_file"]

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024


_LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}


def bucket_region(aws: Aws, bucket: str) -> str:
    """The bucket's region, from HeadBucket's ``x-amz-bucket-region`` (sent even on a 403,
    and for buckets of other accounts); ``InputError`` if the bucket does not exist."""
    try:
        head = aws.client("s3").head_bucket(Bucket=bucket)
        headers = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    except Exception as exc:
        code = error_code(exc)
        headers = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if code in ("NoSuchBucket", "404"):
            raise InputError(f"S3 bucket {bucket!r} does not exist") from None
        if not headers.get("x-amz-bucket-region"):
            if code in ("AccessDenied", "403"):
                raise InputError(f"no access to S3 bucket {bucket!r} (s3:ListBucket)") from None
            raise client_error(exc, f"s3 head-bucket {bucket}") from exc
    region = headers.get("x-amz-bucket-region")
    if region:
        return str(region)
    location = aws.call(
        "s3", "get_bucket_location", f"s3 get-bucket-location {bucket}", Bucket=bucket
    ).get("LocationConstraint")
    return _LEGACY_LOCATIONS.get(location or "", location or "us-east-1")


def check_same_region(aws: Aws, uri: S3Uri, what: str) -> None:
    region = bucket_region(aws, uri.bucket)
    if region != aws.region:
        raise InputError(
            f"{what} {uri} is in {region}, but this runs in {aws.region}: SageMaker reads S3 "
            f"in its own region only (copy it to a bucket in {aws.region}, or use --region "
            f"{region})"
        )


def check_object(aws: Aws, uri: S3Uri, what: str) -> int:
    """The object's size; ``InputError`` if it is not there."""
    try:
        head = aws.client("s3").head_object(Bucket=uri.bucket, Key=uri.key)
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise InputError(f"{what} {uri} does not exist") from None
        raise client_error(exc, f"s3 head-object {uri}") from exc
    return int(head["ContentLength"])


def upload_file(aws: Aws, path: Path, uri: S3Uri, reporter: Reporter) -> dict[str, Any]:
    """Upload ``path`` to ``uri`` (multipart past 64 MiB), showing bytes sent; verify size."""
    from boto3.s3.transfer import TransferConfig

    check_same_region(aws, uri, "upload target")
    size = path.stat().st_size
    config = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK
    )
    with reporter.task(f"uploading {path.name} to {uri}", total=size) as task:
        try:
            aws.client("s3").upload_file(
                str(path),
                uri.bucket,
                uri.key,
                Config=config,
                Callback=lambda sent: task.update(advance=sent),
            )
        except Exception as exc:
            raise client_error(exc, f"uploading {path} to {uri}") from exc
    stored = check_object(aws, uri, "uploaded object")
    if stored != size:
        raise AwsError(f"{uri} holds {stored} bytes after the upload, {path} has {size}")
    return {"uri": str(uri), "bytes": size}
