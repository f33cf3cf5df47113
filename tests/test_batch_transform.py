"""Batch transform inside the container: /execution-parameters and MaxPayloadInMB=0."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests

from byoc.serving.batch import execution_parameters
from byoc.settings import Settings

from .conftest import ClientFactory, write_handler
from .server import ServerProcess
from .test_app import LINEAR


def test_execution_parameters_from_the_workers_and_payload(make_client: ClientFactory) -> None:
    client = make_client(
        LINEAR, env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_BATCH": "true"}
    )
    response = client.get("/execution-parameters")
    assert response.status_code == 200
    assert response.get_json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "4", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"}, (4, 25)),
        (
            {"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
            (3, 6),
        ),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "BYOC_HANDLER_CONCURRENCY": "200"}, (100, 1)),
    ],
    ids=["payload-lowered-to-100-total", "job-concurrency", "concurrency-capped"],
)
def test_concurrency_times_payload_stays_within_sagemakers_100_mb(
    env: dict[str, str], expected: tuple[int, int]
) -> None:
    params = execution_parameters(Settings.from_env(env))
    assert (params["MaxConcurrentTransforms"], params["MaxPayloadInMB"]) == expected
    assert params["MaxConcurrentTransforms"] * params["MaxPayloadInMB"] <= 100  # type: ignore[operator]


def test_the_batch_strategy_comes_from_the_environment() -> None:
    settings = Settings.from_env({"SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD"})
    assert execution_parameters(settings)["BatchStrategy"] == "SINGLE_RECORD"


def test_max_payload_zero_takes_a_large_chunked_body(make_client: ClientFactory) -> None:
    """MaxPayloadInMB=0: the platform streams a whole file as one chunked body."""
    client = make_client(LINEAR, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"})
    rows = 450_000  # 17 bytes a row, 7.6 MB: over the 6 MB default
    body = b"".join(b"%04d.5,1.25,2.75\n" % (i % 1000) for i in range(rows))
    assert len(body) > 6 * 1024 * 1024
    response = client.post(
        "/invocations",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "text/csv", "Accept": "text/csv", "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 200, response.data[:200]
    lines = response.data.splitlines()
    assert len(lines) == rows  # one result per record, in order:
    assert lines[5] == lines[1005] == b"9.5" and lines[999] == b"1003.5"


def test_max_payload_zero_is_still_bounded() -> None:
    settings = Settings.from_env(
        {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "BYOC_MAX_STREAMED_PAYLOAD_IN_MB": "64"}
    )
    assert settings.max_payload_bytes == 64 * 1024 * 1024
    assert Settings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}).max_payload_bytes == 1 << 30


@pytest.mark.process
def test_under_gunicorn_a_streamed_file_and_the_execution_parameters(ml_root: Path) -> None:
    write_handler(ml_root, LINEAR)
    env = {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}
    with ServerProcess(ml_root, env=env) as server:
        server.wait_healthy()
        params = requests.get(server.url + "/execution-parameters", timeout=5).json()
        assert params == {
            "MaxConcurrentTransforms": 1,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": 100,
        }
        chunk = b"".join(b"%04d.5,1.25,2.75\n" % i for i in range(1000))  # 17,000 bytes
        response = requests.post(  # chunked, 8.5 MB in all: no Content-Length
            server.url + "/invocations",
            data=iter([chunk] * 500),
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:300]
        lines = response.content.splitlines()
        assert len(lines) == 500_000 and lines[999] == lines[-1] == b"1003.5"
