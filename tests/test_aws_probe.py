"""``byoc marketplace`` asks the image itself which media types it handles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .aws_support import ROLE, moto_clients
from .test_aws_deploy import CARS, DATA, IMAGE, byoc, result

pytestmark = pytest.mark.docker


def test_marketplace_probes_the_image_for_its_media_types(
    image: str,
    trained: Path,
    aws_env: dict[str, str],
    moto_url: str,
) -> None:
    clients: dict[str, Any] = moto_clients(moto_url)
    clients["s3"].create_bucket(Bucket="models")
    clients["s3"].put_object(Bucket="models", Key="autompg/model.tar.gz", Body=b"archive")
    done = byoc(
        "marketplace",
        "autompg-probed",
        "--image",
        IMAGE,
        "--local-image",
        image,
        "--model-data",
        DATA,
        "--role",
        ROLE,
        "--sample",
        str(CARS),
        "--sample-prefix",
        "s3://models/validation",
        "--model",
        str(trained / "output" / "model.tar.gz"),
        "--json",
    )
    out = result(done)
    assert out["status"] == "Completed"
    spec = clients["sagemaker"].describe_model_package(ModelPackageName="autompg-probed")[
        "InferenceSpecification"
    ]
    # the Auto MPG handler's input_fn takes CSV and JSON only; byoc's codecs encode all five
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert spec["SupportedResponseMIMETypes"] == [
        "text/csv",
        "application/json",
        "application/jsonlines",
        "application/x-npy",
        "application/x-npz",
    ]
    assert "decodes text/csv, application/json" in done.stderr
