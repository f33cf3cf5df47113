"""Pure parts of byoc.aws: validation messages, tags, progress output, error text."""

from __future__ import annotations

import io
import json

import pytest

from byoc.aws.ecr import default_repository, default_tags
from byoc.aws.errors import InputError, client_error
from byoc.aws.progress import Reporter
from byoc.aws.transform import input_prefix_for
from byoc.aws.validate import (
    TRANSFORM,
    S3Uri,
    check_instance_type,
    check_name,
    check_repository,
    check_role_arn,
    check_serverless,
    check_tag,
    ecr_image_region,
)


def labels(**values: str) -> dict[str, object]:
    return {"Config": {"Labels": {f"org.opencontainers.image.{k}": v for k, v in values.items()}}}


def test_default_tags_most_specific_first() -> None:
    info = labels(version="1.2.0", revision="abc123")
    assert default_tags(info, immutable=False) == ["1.2.0-abc123", "1.2.0", "latest"]
    assert default_tags(info, immutable=True) == ["1.2.0-abc123"]
    assert default_tags(labels(version="1.2.0", revision="unknown"), False) == ["1.2.0", "latest"]
    assert default_tags({"Config": {}}, immutable=True) == ["latest"]  # nothing else to use


def test_a_serve_only_image_never_takes_the_full_images_tags() -> None:
    info = labels(version="1.2.0", revision="abc123")
    info["Config"]["Labels"]["dev.byoc.variant"] = "serve-only"  # type: ignore[index]
    assert default_tags(info, immutable=False) == [
        "1.2.0-abc123-serve-only",
        "1.2.0-serve-only",
        "serve-only",
    ]
    assert default_tags(info, immutable=True) == ["1.2.0-abc123-serve-only"]


@pytest.mark.parametrize("name", ["byoc", "team/byoc-model", "a.b_c-d/e"])
def test_valid_repository_names(name: str) -> None:
    assert check_repository(name) == name


@pytest.mark.parametrize("name", ["B", "Byoc", "byoc/", "-byoc", "by//oc", "x" * 257])
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(InputError, match="invalid ECR repository name"):
        check_repository(name)


def test_tags_and_names() -> None:
    assert check_tag("0.1.0-abc") == "0.1.0-abc"
    for bad in ("", ".x", "-x", "a b", "x" * 129):
        with pytest.raises(InputError):
            check_tag(bad)
    assert check_name("autompg-1") == "autompg-1"
    for bad in ("-a", "a_b", "a" * 64, ""):
        with pytest.raises(InputError, match="SageMaker's rule"):
            check_name(bad)


def test_role_name_gets_the_arn_it_meant() -> None:
    arn = "arn:aws:iam::123456789012:role/service-role/SageMaker-Exec"
    assert check_role_arn(arn) == arn
    with pytest.raises(InputError, match=r"did you mean arn:aws:iam::111122223333:role/Exec\?"):
        check_role_arn("Exec", "111122223333")
    with pytest.raises(InputError, match="is not an IAM role ARN"):
        check_role_arn("arn:aws:iam::123:user/me")


def test_instance_types() -> None:
    assert check_instance_type("ml.g5.xlarge") == "ml.g5.xlarge"
    with pytest.raises(InputError, match=r"did you mean ml\.c5\.xlarge"):
        check_instance_type("ml.c5.xlarg")
    with pytest.raises(InputError, match="for batch transform"):
        check_instance_type("ml.t2.medium", TRANSFORM)


@pytest.mark.parametrize(
    ("memory", "ok"), [(1024, True), (6144, True), (1000, False), (7168, False)]
)
def test_serverless_memory(memory: int, ok: bool) -> None:
    if ok:
        check_serverless(memory, 5)
    else:
        with pytest.raises(InputError, match="serverless memory"):
            check_serverless(memory, 5)
    with pytest.raises(InputError, match="max concurrency"):
        check_serverless(2048, 0)


def test_s3_uris_and_ecr_regions() -> None:
    uri = S3Uri.parse("s3://my-bucket/a/b/")
    assert (uri.bucket, uri.key, str(uri.child("x.tar.gz"))) == (
        "my-bucket",
        "a/b/",
        "s3://my-bucket/a/b/x.tar.gz",
    )
    for bad in ("my-bucket/a", "s3://B/a", "https://x/y"):
        with pytest.raises(InputError):
            S3Uri.parse(bad)
    assert ecr_image_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com/byoc:1") == "eu-west-1"
    assert ecr_image_region("docker.io/library/python:3.11") is None


def test_client_error_text_hides_html_pages() -> None:
    class Fake(Exception):
        response = {  # noqa: RUF012
            "Error": {"Code": "500", "Message": "<!doctype html><title>500</title>"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    text = str(client_error(Fake(), "sagemaker update-endpoint x"))
    assert text == (
        "sagemaker update-endpoint x failed: 500: HTTP 500 with no AWS error in the answer"
    )


def test_json_reporter_events_and_result(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    reporter = Reporter("json", stream)
    reporter.info("created repository byoc", repository="byoc")
    with reporter.task("pushing", total=3) as task:
        task.update(status="pushed", advance=1)
    reporter.result({"uri": "x"}, "x")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["info", "start", "progress", "done"]
    assert events[0]["repository"] == "byoc"
    assert json.loads(capsys.readouterr().out) == {"uri": "x"}


def test_quiet_reporter_prints_only_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    reporter = Reporter("quiet", stream)
    reporter.info("noise")
    with reporter.task("waiting") as task:
        task.update(status="Creating")
    reporter.result({"a": 1}, "the line")
    assert stream.getvalue() == ""
    assert capsys.readouterr().out == "the line\n"


def test_rich_progress_goes_to_the_stream_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    reporter = Reporter("rich", stream)
    with reporter.task("uploading", total=10_000) as task:
        reporter.info("a step while waiting")
        task.update(advance=5_000)
    assert capsys.readouterr().out == ""
    assert "a step while waiting" in stream.getvalue()


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("byoc:latest", "byoc"),
        ("localhost:5000/team/model:1", "team/model"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byoc:1", "byoc"),
        ("byoc@sha256:0123", "byoc"),
        ("team/model", "team/model"),
    ],
)
def test_default_repository_drops_host_and_tag(image: str, repository: str) -> None:
    assert default_repository(image) == repository


def test_a_local_transform_input_stays_in_the_output_bucket() -> None:
    assert input_prefix_for("s3://use1/") == "s3://use1/byoc-transform-input/"
    assert input_prefix_for("s3://use1/jobs/out/") == "s3://use1/jobs/out-input/"
