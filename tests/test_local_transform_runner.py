"""The transform runner against a fake container in this process (no Docker): order under
concurrency, retries, failures, chunked bodies and /execution-parameters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from byoc.local_transform import JobOptions, JobOutcome, input_files, transform_with
from byoc.local_transform.records import encode_recordio


class FakeContainer(ThreadingHTTPServer):
    """Answers one line ``out:<line>`` per input line; ``bad`` lines get a 400 naming the
    row, ``flaky`` bodies a 500 while ``failures`` lasts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.params: dict[str, Any] | None = None
        self.failures = 0
        self.delay = 0.0
        self.answer_lines: int | None = None  # answer this many lines instead
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeContainer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/execution-parameters" and self.server.params is not None:
            self._send(200, json.dumps(self.server.params).encode())
        else:
            self._send(404, b'{"error": "not_found"}')

    def do_POST(self) -> None:
        body = self._body()
        fake = self.server
        with fake.lock:
            fake.requests.append((dict(self.headers), body))
            fake.in_flight += 1
            fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
        time.sleep(fake.delay)
        lines = body.decode(errors="replace").splitlines()
        with fake.lock:
            fake.in_flight -= 1
            flaky = b"flaky" in body and fake.failures > 0
            fake.failures -= flaky
        bad = [n for n, line in enumerate(lines, 1) if "bad" in line]
        if flaky:
            self._send(500, b'{"message": "try again"}')
        elif bad:
            self._send(400, json.dumps({"message": f"row {bad[0]} is bad"}).encode())
        else:
            count = fake.answer_lines if fake.answer_lines is not None else len(lines)
            self._send(200, "".join(f"out:{line}\n" for line in lines[:count]).encode())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding") == "chunked":
            data = b""
            while size := int(self.rfile.readline().strip(), 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/csv" if status == 200 else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake() -> Iterator[FakeContainer]:
    server = FakeContainer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _inputs(root: Path, files: dict[str, list[str]]) -> Path:
    for name, lines in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("".join(line + "\n" for line in lines))
    return root


def _run(fake: FakeContainer, inputs: Path, output: Path, **options: Any) -> JobOutcome:
    said: list[str] = []
    outcome = transform_with(
        fake.url, input_files(inputs), output, JobOptions(**options), said.append
    )
    assert said[0].startswith("/execution-parameters:")
    return outcome


def test_order_is_kept_under_concurrency_and_files_never_share_a_request(
    fake: FakeContainer, tmp_path: Path
) -> None:
    files = {f"f{f}.csv": [f"{f}-{i}" for i in range(20)] for f in range(3)}
    inputs = _inputs(tmp_path / "in", files)
    fake.delay = 0.02
    outputs = {}
    for strategy in ("SingleRecord", "MultiRecord"):
        out = tmp_path / strategy
        outcome = _run(
            fake, inputs, out, batch_strategy=strategy, max_concurrent=3, max_payload_mb=1
        )
        assert outcome.status == "Completed" and outcome.records == 60
        outputs[strategy] = {name: (out / f"{name}.out").read_text() for name in files}
    assert outputs["SingleRecord"] == outputs["MultiRecord"]
    assert outputs["MultiRecord"]["f1.csv"] == "".join(f"out:1-{i}\n" for i in range(20))
    assert 1 < fake.most_in_flight <= 3
    assert len(fake.requests) == 60 + 3  # one per record, then one per file
    for _, body in fake.requests:
        assert len({line.split("-")[0] for line in body.decode().splitlines()}) == 1


def test_a_bad_record_fails_its_file_only_and_is_named(fake: FakeContainer, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2"], "b.csv": ["1", "", "2", "bad", "3"]})
    out = tmp_path / "out"
    (out).mkdir()
    (out / "b.csv.out").write_text("stale")
    outcome = _run(fake, inputs, out)
    assert outcome.status == "Failed"
    assert (out / "a.csv.out").read_text() == "out:1\nout:2\n"
    assert not (out / "b.csv.out").exists()
    assert outcome.failure_reason == (
        "1 of 2 input files failed; b.csv: line 4: the container answered 400 after 1 attempt: "
        "row 1 is bad (the request for lines 1-5 was answered 400; this record alone fails too)"
    )
    assert len(fake.requests) == 2 + 3  # no retry of a 4xx; then lines 1, 3, 4 alone


def test_5xx_is_retried_up_to_three_times(fake: FakeContainer, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["flaky"]})
    fake.failures = 3
    assert _run(fake, inputs, tmp_path / "ok").status == "Completed"
    assert len(fake.requests) == 4
    fake.failures = 4
    outcome = _run(fake, inputs, tmp_path / "failed")
    assert outcome.failed[0].error == (
        "line 1: the container answered 500 after 4 attempts: try again"
    )
    fake.failures = 1
    assert _run(fake, inputs, tmp_path / "none", max_retries=0).status == "Failed"


def test_payload_zero_streams_each_file_chunked(fake: FakeContainer, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": [str(i) for i in range(1000)], "b.csv": ["x"]})
    for split_type in ("Line", "None"):
        fake.requests.clear()
        out = tmp_path / split_type
        outcome = _run(fake, inputs, out, max_payload_mb=0, split_type=split_type)
        assert outcome.status == "Completed"
        assert len(fake.requests) == 2
        for headers, _ in fake.requests:
            assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
        assert fake.requests[0][1] == (inputs / "a.csv").read_bytes()
        assert (out / "a.csv.out").read_text().count("\n") == 1000


def test_execution_parameters_decide_what_the_job_does_not(
    fake: FakeContainer, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2", "3"]})
    fake.params = {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD"}
    outcome = _run(fake, inputs, tmp_path / "theirs")
    assert outcome.parameters.sources == ("container", "container", "default")
    assert len(fake.requests) == 3
    fake.requests.clear()
    outcome = _run(fake, inputs, tmp_path / "ours", batch_strategy="MultiRecord")
    assert outcome.parameters.batch_strategy == "MultiRecord" and len(fake.requests) == 1


def test_multi_record_answer_must_hold_one_result_per_record(
    fake: FakeContainer, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "2", "3"]})
    fake.answer_lines = 1
    outcome = _run(fake, inputs, tmp_path / "out")
    assert outcome.failed[0].error == (
        "lines 1-3: the container answered 1 lines for 3 records; with MultiRecord the answer "
        "must hold one result per record (one line each, or a JSON array)"
    )
    assert _run(fake, inputs, tmp_path / "raw", assemble_with="None").status == "Completed"


def test_a_record_over_the_limit_fails_its_file(fake: FakeContainer, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["1", "x" * (1024 * 1024)], "b.csv": ["2"]})
    outcome = _run(fake, inputs, tmp_path / "out", max_payload_mb=1)
    assert [f.relative for f in outcome.failed] == ["a.csv"]
    assert outcome.failed[0].error == (
        "line 2 is 1048577 bytes, more than MaxPayloadInMB (1 MB = 1048576 bytes)"
    )
    assert (tmp_path / "out" / "b.csv.out").read_text() == "out:2\n"


def test_join_and_filters_run_in_the_platform(fake: FakeContainer, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", {"a.csv": ["id1,4,5", "id2,6,7"]})
    outcome = _run(
        fake, inputs, tmp_path / "out", input_filter="$[1:]", join_source="Input",
        output_filter="$[0,3:]",
    )  # fmt: skip
    assert outcome.status == "Completed"
    assert fake.requests[0][1] == b"4,5\n6,7\n"
    assert (tmp_path / "out" / "a.csv.out").read_text() == "id1,out:4,5\nid2,out:6,7\n"


def test_recordio_records_travel_framed(fake: FakeContainer, tmp_path: Path) -> None:
    frames = [encode_recordio(p) for p in (b"one", b"two", b"three")]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.rec").write_bytes(b"".join(frames))
    options = {"content_type": "application/x-recordio", "split_type": "RecordIO"}
    outcome = _run(fake, tmp_path / "in", tmp_path / "single", batch_strategy="SingleRecord",
                   assemble_with="None", **options)  # fmt: skip
    assert outcome.status == "Completed" and outcome.records == 3
    assert [body for _, body in fake.requests] == frames
    fake.requests.clear()
    _run(
        fake, tmp_path / "in", tmp_path / "multi", max_payload_mb=1, assemble_with="None", **options
    )
    assert [body for _, body in fake.requests] == [b"".join(frames)]
