"""The transform runner against the real ``serve`` (gunicorn, one worker, three handler
slots) with ``handlers/transform_recorder.py``: order under concurrency, retries,
failures, chunked bodies and /execution-parameters."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from byoc.local_transform import JobOptions, JobOutcome, input_files, transform_with
from byoc.local_transform.config import container_parameters, resolve
from byoc.local_transform.records import encode_recordio

from .conftest import HANDLERS, write_handler
from .server import ServerProcess

pytestmark = pytest.mark.process

SWITCHES = ("failures.txt", "delay.txt", "answer_lines.txt", "requests.jsonl")


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: bytes
    in_flight: int


@dataclass(frozen=True)
class Container:
    """The running server and the files that switch its handler."""

    url: str
    model_dir: Path

    def set(self, name: str, value: object) -> None:
        (self.model_dir / f"{name}.txt").write_text(str(value))

    def requests(self) -> list[Request]:
        log = self.model_dir / "requests.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        entries = [json.loads(line) for line in lines]
        return [Request(e["headers"], base64.b64decode(e["body"]), e["in_flight"]) for e in entries]

    def clear(self) -> None:
        for name in SWITCHES:
            (self.model_dir / name).unlink(missing_ok=True)


def _serve(root: Path, env: dict[str, str] | None = None) -> ServerProcess:
    (root / "model" / "code").mkdir(parents=True)
    write_handler(root, (HANDLERS / "transform_recorder.py").read_text())
    server = ServerProcess(
        root,
        env={
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "BYOC_HANDLER_CONCURRENCY": "3",
            **(env or {}),
        },
    )
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with _serve(tmp_path_factory.mktemp("ml")) as running:
        yield running


@pytest.fixture
def container(server: ServerProcess) -> Iterator[Container]:
    model_dir = server.log_path.parent / "model"
    running = Container(server.url, model_dir)
    running.clear()
    yield running
    running.clear()


def _inputs(root: Path, files: dict[str, list[str]]) -> Path:
    for name, lines in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("".join(line + "\n" for line in lines))
    return root


def _run(container: Container, inputs: Path, output: Path, **options: Any) -> JobOutcome:
    said: list[str] = []
    outcome = transform_with(
        container.url, input_files(inputs), output, JobOptions(**options), said.append
    )
    assert said[0].startswith("/execution-parameters:")
    return outcome


def test_order_is_kept_under_concurrency_and_files_never_share_a_request(
    container: Container, tmp_path: Path
) -> None:
    files = {f"f{f}.csv": [f"{f}-{i}" for i in range(20)] for f in range(3)}
    inputs = _inputs(tmp_path / "in", files)
    container.set("delay", 0.02)
    outputs = {}
    for strategy in ("SingleRecord", "MultiRecord"):
        out = tmp_path / strategy
        outcome = _run(
            container, inputs, out, batch_strategy=strategy, max_concurrent=3, max_payload_mb=1
        )
        assert outcome.status == "Completed" and outcome.records == 60
        outputs[strategy] = {name: (out / f"{name}.out").read_text() for name in files}
    assert outputs["SingleRecord"] == outputs["MultiRecord"]
    assert outputs["MultiRecord"]["f1.csv"] == "".join(f"out:1-{i}\n" for i in range(20))
    requests = container.requests()
    assert 1 < max(r.in_flight for r in requests) <= 3
    assert len(requests) == 60 + 3  # one per record, then one per file
    for request in requests:
        assert len({line.split("-")[0] for line in request.body.decode().splitlines()}) == 1


def test_a_bad_record_fails_its_file_only_and_is_named(
    container: Container, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2"], "b.csv": ["1", "", "2", "bad", "3"]})
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.csv.out").write_text("stale")
    outcome = _run(container, inputs, out)
    assert outcome.status == "Failed"
    assert (out / "a.csv.out").read_text() == "out:1\nout:2\n"
    assert not (out / "b.csv.out").exists()
    assert outcome.failure_reason == (
        "1 of 2 input files failed; b.csv: line 4: the container answered 400 after 1 attempt: "
        "row 1 is bad (the request for lines 1-5 was answered 400; this record alone fails too)"
    )
    assert len(container.requests()) == 2 + 3  # no retry of a 4xx; then lines 1, 3, 4 alone


def test_5xx_is_retried_up_to_three_times(container: Container, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["flaky"]})
    container.set("failures", 3)
    assert _run(container, inputs, tmp_path / "ok").status == "Completed"
    assert len(container.requests()) == 4
    container.set("failures", 4)
    outcome = _run(container, inputs, tmp_path / "failed")
    assert outcome.failed[0].error == (
        "line 1: the container answered 500 after 4 attempts: try again"
    )
    container.set("failures", 1)
    assert _run(container, inputs, tmp_path / "none", max_retries=0).status == "Failed"


def test_payload_zero_streams_each_file_chunked(container: Container, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": [str(i) for i in range(1000)], "b.csv": ["x"]})
    for split_type in ("Line", "None"):
        container.clear()
        out = tmp_path / split_type
        outcome = _run(container, inputs, out, max_payload_mb=0, split_type=split_type)
        assert outcome.status == "Completed"
        requests = container.requests()
        assert len(requests) == 2
        for request in requests:
            headers = {name.lower(): value for name, value in request.headers.items()}
            assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        # The container's three slots take both files at once: in either order.
        bodies = sorted(request.body for request in requests)
        assert bodies == sorted((inputs / name).read_bytes() for name in ("a.csv", "b.csv"))
        assert (out / "a.csv.out").read_text().count("\n") == 1000


def test_execution_parameters_decide_what_the_job_does_not(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    env = {"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2", "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD"}
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2", "3"]})
    with _serve(tmp_path_factory.mktemp("ml"), env) as server:
        container = Container(server.url, server.log_path.parent / "model")
        outcome = _run(container, inputs, tmp_path / "theirs")
        assert outcome.parameters.sources == ("container", "container", "container")
        assert outcome.parameters.max_concurrent == 2
        assert outcome.parameters.batch_strategy == "SingleRecord"
        assert outcome.parameters.max_payload_mb == 6  # byoc's own limit, proposed
        assert len(container.requests()) == 3
        container.clear()
        outcome = _run(container, inputs, tmp_path / "ours", batch_strategy="MultiRecord")
        assert outcome.parameters.batch_strategy == "MultiRecord"
        assert len(container.requests()) == 1


def test_a_container_with_no_opinion_leaves_it_to_the_job_and_the_defaults() -> None:
    # byoc always answers /execution-parameters; other containers answer 404 (or anything
    # but a JSON object), which means no opinion.
    for status, body in ((404, b'{"error": "not_found"}'), (200, b"[]"), (200, b"<html>")):
        assert container_parameters(status, body) is None
    resolved = resolve(JobOptions(max_payload_mb=2), None)
    assert (resolved.max_concurrent, resolved.batch_strategy, resolved.max_payload_mb) == (
        1,
        "MultiRecord",
        2,
    )
    assert resolved.sources == ("default", "default", "job")


def test_multi_record_answer_must_hold_one_result_per_record(
    container: Container, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2", "3"]})
    container.set("answer_lines", 1)
    outcome = _run(container, inputs, tmp_path / "out")
    assert outcome.failed[0].error == (
        "lines 1-3: the container answered 1 lines for 3 records; with MultiRecord the answer "
        "must hold one result per record (one line each, or a JSON array)"
    )
    assert _run(container, inputs, tmp_path / "raw", assemble_with="None").status == "Completed"


def test_a_record_over_the_limit_fails_its_file(container: Container, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "x" * (1024 * 1024)], "b.csv": ["2"]})
    outcome = _run(container, inputs, tmp_path / "out", max_payload_mb=1)
    assert [f.relative for f in outcome.failed] == ["a.csv"]
    assert outcome.failed[0].error == (
        "line 2 is 1048577 bytes, more than MaxPayloadInMB (1 MB = 1048576 bytes)"
    )
    assert (tmp_path / "out" / "b.csv.out").read_text() == "out:2\n"


def test_join_and_filters_run_in_the_platform(container: Container, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["id1,4,5", "id2,6,7"]})
    outcome = _run(
        container, inputs, tmp_path / "out", input_filter="$[1:]", join_source="Input",
        output_filter="$[0,3:]",
    )  # fmt: skip
    assert outcome.status == "Completed"
    assert [r.body for r in container.requests()] == [b"4,5\n6,7\n"]
    assert (tmp_path / "out" / "a.csv.out").read_text() == "id1,out:4,5\nid2,out:6,7\n"


def test_recordio_records_travel_framed(container: Container, tmp_path: Path) -> None:
    frames = [encode_recordio(p) for p in (b"one", b"two", b"three")]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.rec").write_bytes(b"".join(frames))
    options = {"content_type": "application/x-recordio", "split_type": "RecordIO"}
    outcome = _run(container, tmp_path / "in", tmp_path / "single", batch_strategy="SingleRecord",
                   assemble_with="None", **options)  # fmt: skip
    assert outcome.status == "Completed" and outcome.records == 3
    # Three slots in the container: the frames arrive in any order, each framed alone.
    assert sorted(r.body for r in container.requests()) == sorted(frames)
    container.clear()
    _run(
        container, tmp_path / "in", tmp_path / "multi", max_payload_mb=1, assemble_with="None",
        **options,
    )  # fmt: skip
    assert [r.body for r in container.requests()] == [b"".join(frames)]
