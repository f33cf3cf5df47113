"""The serving-only image (container/build.sh --serve-only): LiteRT and numpy, no
TensorFlow; it serves the model the full image trained, with the same answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from byoc.example import read_auto_mpg
from byoc.local import Endpoint, docker, start_endpoint, train

from .docker_support import new_job
from .server import REPO
from .test_example import DATA
from .test_litert import csv_rows

pytestmark = pytest.mark.docker

BAD_ROWS = b"4,140,86\n"
RECORD = (REPO / "local_test" / "payloads" / "cars.json").read_bytes()


def _size(image: str) -> int:
    return int(json.loads(docker("image", "inspect", image).stdout)[0]["Size"])


@pytest.fixture(scope="module")
def endpoints(image: str, serve_only_image: str, trained: Path) -> Iterator[dict[str, Endpoint]]:
    archive = trained / "output" / "model.tar.gz"
    with ExitStack() as stack:
        started = {}
        for name, which in (("full", image), ("serve-only", serve_only_image)):
            endpoint = start_endpoint(which, archive, isolated=True)
            stack.callback(endpoint.stop)
            started[name] = endpoint
        for endpoint in started.values():
            endpoint.wait_healthy(120)
        yield started


def test_the_serve_only_image_has_no_tensorflow_and_is_a_quarter_of_the_size(
    image: str, serve_only_image: str
) -> None:
    python = ["run", "--rm", "--entrypoint", "/opt/byoc/bin/python", serve_only_image, "-c"]
    missing = docker(*python, "import tensorflow", check=False)
    assert missing.returncode != 0
    assert "No module named 'tensorflow'" in missing.stderr
    present = docker(*python, "import ai_edge_litert.interpreter, numpy, gunicorn, byoc")
    assert present.returncode == 0
    ratio = _size(serve_only_image) / _size(image)
    assert ratio <= 0.25, f"serve-only is {ratio:.2f} of the full image"
    labels = json.loads(docker("image", "inspect", serve_only_image).stdout)[0]["Config"]["Labels"]
    assert labels["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"
    assert labels["org.opencontainers.image.title"] == "byoc-serve-only"


def test_it_answers_as_the_full_image_does(endpoints: dict[str, Endpoint]) -> None:
    rows, _ = read_auto_mpg(DATA)  # 398 rows, 6 with an unknown horsepower
    answers = {}
    for name, endpoint in endpoints.items():
        status, body = endpoint.invoke(csv_rows(rows).encode(), "text/csv", "application/json")
        assert status == 200, (name, body)
        answers[name] = np.asarray(json.loads(body))
        status, body = endpoint.invoke(RECORD, "application/json", "application/json")
        assert status == 200, (name, body)
        answers[name + " json"] = np.asarray(json.loads(body))
    assert answers["full"].shape == answers["serve-only"].shape == (398,)
    assert float(np.max(np.abs(answers["full"] - answers["serve-only"]))) <= 1e-3
    assert float(np.max(np.abs(answers["full json"] - answers["serve-only json"]))) <= 1e-3
    refused = {name: endpoint.invoke(BAD_ROWS, "text/csv") for name, endpoint in endpoints.items()}
    assert {status for status, _ in refused.values()} == {400}
    messages = {json.loads(body)["message"] for _, body in refused.values()}
    assert len(messages) == 1 and "row 1 has 3 columns; expected 7" in messages.pop()
    logs = endpoints["serve-only"].logs()
    assert "model loaded from /opt/ml/model" in logs


def test_a_training_job_on_it_fails_saying_why(serve_only_image: str, tmp_path: Path) -> None:
    result = train(serve_only_image, new_job(tmp_path, epochs="1"), network=False, stream=False)
    assert result.exit_code != 0 and result.model_archive is None
    assert result.failure_reason is not None
    assert "this image has no TensorFlow" in result.failure_reason
    assert "train with the full image" in result.failure_reason
