"""Response streaming: a handler that yields answers chunk by chunk (chunked encoding)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from .conftest import ClientFactory, write_handler
from .server import ServerProcess
from .test_app import error_of

STREAMING = """
import os, time

def model_fn(model_dir):
    return model_dir

def input_fn(body, content_type):
    return body.decode() if isinstance(body, bytes) else body

def predict_fn(data, model):
    if data.startswith("fail-first"):
        raise ValueError("no tokens for you")
    def tokens():
        if data.startswith("wait"):  # the test creates GO once it has read the first chunk
            yield "first;"
            go = os.path.join(model, "GO")
            deadline = time.monotonic() + 20
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.01)
            yield "after-go;" if os.path.exists(go) else "timeout;"
            return
        if data.startswith("forever"):
            for i in range(2000):  # bounded: 20 s at most
                yield f"tick {i};"
                time.sleep(0.01)
            return
        for word in data.split():
            if word == "boom":
                raise RuntimeError("the model fell over mid-stream")
            yield word + ";"
    return tokens()
"""


def test_a_generator_is_streamed_without_content_length(make_client: ClientFactory) -> None:
    client = make_client(STREAMING)
    response = client.post("/invocations", data="a b c", content_type="text/plain")
    assert response.status_code == 200
    assert "Content-Length" not in response.headers
    assert response.data == b"a;b;c;"


def test_an_error_before_the_first_chunk_is_a_json_error(make_client: ClientFactory) -> None:
    client = make_client(STREAMING)
    response = client.post("/invocations", data="fail-first", content_type="text/plain")
    assert response.status_code == 500
    assert "predict_fn failed: ValueError: no tokens for you" in error_of(response)["message"]


def test_output_fn_and_transform_fn_may_stream_too(make_client: ClientFactory) -> None:
    client = make_client(
        """
def model_fn(model_dir):
    return None

def transform_fn(model, data, content_type, accept):
    return (chunk.encode() for chunk in ("x", "y", "z"))
"""
    )
    response = client.post("/invocations", data="1", content_type="text/csv")
    assert response.status_code == 200 and response.data == b"xyz"


@pytest.mark.process
def test_chunks_arrive_as_they_are_produced(ml_root: Path) -> None:
    write_handler(ml_root, STREAMING)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        with requests.post(
            server.url + "/invocations",
            data="wait",
            headers={"Content-Type": "text/plain"},
            stream=True,
            timeout=30,
        ) as response:
            assert response.status_code == 200
            assert response.headers["Transfer-Encoding"] == "chunked"
            chunks = response.iter_content(chunk_size=None)
            assert next(chunks) == b"first;"  # before the second one exists
            (ml_root / "model" / "GO").write_text("")
            assert b"".join(chunks) == b"after-go;"


@pytest.mark.process
def test_a_client_that_goes_away_frees_the_handler_slot(ml_root: Path) -> None:
    write_handler(ml_root, STREAMING)
    env = {"BYOC_HANDLER_CONCURRENCY": "1", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "5"}
    with ServerProcess(ml_root, env=env) as server:
        server.wait_healthy()
        response = requests.post(
            server.url + "/invocations",
            data="forever",
            headers={"Content-Type": "text/plain"},
            stream=True,
            timeout=30,
        )
        assert next(response.iter_content(chunk_size=None)).startswith(b"tick 0;")
        response.close()  # the client goes away mid-stream
        started = time.monotonic()
        again = requests.post(
            server.url + "/invocations",
            data="a b",
            headers={"Content-Type": "text/plain"},
            timeout=30,
        )
        assert again.status_code == 200 and again.content == b"a;b;"
        assert time.monotonic() - started < 4  # the slot was freed, not timed out
        deadline = time.monotonic() + 5  # the stream's access line is written when it ends
        while server.log.count("POST /invocations 200") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.log.count("POST /invocations 200") == 2, server.log


@pytest.mark.process
def test_a_failure_mid_stream_breaks_the_connection(ml_root: Path) -> None:
    write_handler(ml_root, STREAMING)
    with ServerProcess(ml_root) as server:
        server.wait_healthy()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.post(
                server.url + "/invocations",
                data="a boom c",
                headers={"Content-Type": "text/plain"},
                timeout=30,
            )
        deadline = time.monotonic() + 5
        while "stream=broken" not in server.log and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "stream broken after 2 bytes" in server.log and "stream=broken" in server.log
        ok = requests.post(
            server.url + "/invocations",
            data="a b",
            headers={"Content-Type": "text/plain"},
            timeout=30,
        )
        assert ok.content == b"a;b;"  # the worker lives on


def test_batching_never_applies_to_a_streaming_handler(make_client: ClientFactory) -> None:
    client = make_client(
        """
def model_fn(model_dir):
    return None

def predict_fn(data, model):
    yield b"one;"
    yield b"two;"
""",
        env={"BYOC_MAX_BATCH_SIZE": "4"},
    )
    assert client.application.extensions["byoc"]._batcher is None  # a generator function
    response = client.post("/invocations", data="1,2\n", content_type="text/csv")
    assert response.data == b"one;two;"


def test_a_stream_returned_under_batching_is_still_answered(make_client: ClientFactory) -> None:
    client = make_client(STREAMING, env={"BYOC_MAX_BATCH_SIZE": "4"})
    response = client.post("/invocations", data="a b", content_type="text/plain")
    assert response.status_code == 200 and response.data == b"a;b;"


def test_a_stream_whose_context_status_is_invalid_frees_the_slot(
    make_client: ClientFactory,
) -> None:
    client = make_client(
        """
def model_fn(model_dir):
    return None

def predict_fn(data, model, context):
    context.set_response_status(999)
    return (b for b in [b"a"])
""",
        env={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "2"},
    )
    for _ in range(3):  # the slot came back each time: no 503 busy after the first
        response = client.post("/invocations", data="1\n", content_type="text/csv")
        assert response.status_code == 500
        assert "invalid status 999" in error_of(response)["message"]
