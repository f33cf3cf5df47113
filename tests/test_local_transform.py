"""``byoc local transform``: record splitting, packing, data processing and settings (pure
functions), then the real image under Docker over a few files."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from byoc.local import Endpoint, start_endpoint
from byoc.local_transform import ConfigError, JobOptions, input_files, transform_with
from byoc.local_transform.config import container_parameters, resolve
from byoc.local_transform.processing import DataProcessing, ProcessingError, split_answer
from byoc.local_transform.records import (
    RECORDIO_MAGIC,
    Record,
    RecordError,
    encode_recordio,
    pack,
    split,
)

from .docker_support import require_docker
from .server import REPO

MB = 1024 * 1024


# -- records ------------------------------------------------------------------------------
def test_line_split_numbers_lines_as_in_the_file_and_skips_blank_ones() -> None:
    records = split(b"a,1\r\n\nb,2\n  \nc,3", "Line")
    assert [(r.data, r.number) for r in records] == [(b"a,1", 1), (b"b,2", 3), (b"c,3", 5)]
    assert records[1].offset == 6 and records[1].where("Line") == "line 3"
    assert split(b"", "Line") == [] and split(b"x\n", "None") == [Record(b"x\n", 1)]


def test_recordio_split_keeps_each_framed_record() -> None:
    payloads = [b"abc", b"", b"12345678", b"\xce\xd7\x23\x0a"]
    data = b"".join(encode_recordio(p) for p in payloads)
    records = split(data, "RecordIO")
    assert [r.data for r in records] == [encode_recordio(p) for p in payloads]
    assert [len(r.data) for r in records] == [12, 8, 16, 12]  # header 8 + data padded to 4
    assert [r.offset for r in records] == [0, 12, 20, 36]
    assert records[2].where("RecordIO") == "record 3 (byte 20)"


def test_recordio_multi_part_record_is_one_record() -> None:
    def frame(cflag: int, data: bytes) -> bytes:
        word = (cflag << 29) | len(data)
        header = RECORDIO_MAGIC.to_bytes(4, "little") + word.to_bytes(4, "little")
        return header + data + b"\0" * (-len(data) % 4)

    parts = frame(1, b"first") + frame(2, b"mid") + frame(3, b"last")
    data = encode_recordio(b"x") + parts + encode_recordio(b"y")
    records = split(data, "RecordIO")
    assert [r.data for r in records] == [encode_recordio(b"x"), parts, encode_recordio(b"y")]
    with pytest.raises(RecordError, match="has no last part"):
        split(frame(1, b"first"), "RecordIO")
    with pytest.raises(RecordError, match="unexpected cflag 3 at byte 0"):
        split(frame(3, b"last"), "RecordIO")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (encode_recordio(b"ok") + b"\x00\x01\x02\x03\x04\x05\x06\x07", "no magic number"),
        (encode_recordio(b"ok") + b"\x0a\x23", "a truncated header at byte 12"),
        (encode_recordio(b"0123456789")[:12], "is cut short"),
    ],
)
def test_broken_recordio_names_the_byte(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        split(data, "RecordIO")


def _lines(count: int, width: int = 9) -> list[Record]:
    return [Record(str(i).rjust(width, "x").encode(), i) for i in range(1, count + 1)]


def test_multi_record_packs_whole_records_up_to_the_limit() -> None:
    batches = list(pack(_lines(7), "Line", 30, multi_record=True))  # 10 bytes each with \n
    assert [len(b.records) for b in batches] == [3, 3, 1]
    assert batches[0].body == b"xxxxxxxx1\nxxxxxxxx2\nxxxxxxxx3\n"
    assert all(len(b.body) <= 30 for b in batches)
    assert batches[1].where("Line") == "lines 4-6" and batches[2].where("Line") == "line 7"
    assert [len(b.records) for b in pack(_lines(7), "Line", 29, True)] == [2, 2, 2, 1]


def test_single_record_and_no_limit() -> None:
    assert [len(b.records) for b in pack(_lines(4), "Line", 6 * MB, False)] == [1, 1, 1, 1]
    assert [len(b.records) for b in pack(_lines(1000), "Line", 0, True)] == [1000]
    records = [Record(encode_recordio(b"ab"), 1), Record(encode_recordio(b"cd"), 2)]
    (batch,) = pack(records, "RecordIO", 24, True)
    assert batch.body == encode_recordio(b"ab") + encode_recordio(b"cd")  # no separator


def test_a_record_bigger_than_the_limit_fails() -> None:
    records = [*_lines(2), Record(b"y" * 40, 9)]
    with pytest.raises(RecordError, match=r"line 9 is 41 bytes, more than MaxPayloadInMB"):
        list(pack(records, "Line", 30, multi_record=True))
    with pytest.raises(RecordError, match=r"line 9 is 41 bytes"):
        list(pack(records, "Line", 30, multi_record=False))


# -- data processing ----------------------------------------------------------------------
def test_split_answer_into_lines_or_json_array_elements() -> None:
    assert split_answer(b"1.5\n2.5\r\n3.5\n\n", "text/csv", 3) == [b"1.5", b"2.5", b"3.5"]
    assert split_answer(b'[1.5, [2, 3], {"a": 1}]', "application/json", 3) == [
        b"1.5",
        b"[2, 3]",
        b'{"a": 1}',
    ]
    assert split_answer(b"[0.1, 0.9]\n[0.2, 0.8]\n", "application/jsonlines", 2) == [
        b"[0.1, 0.9]",
        b"[0.2, 0.8]",
    ]
    assert split_answer(b"[0.1, 0.9]", "application/json", 1) == [b"[0.1, 0.9]"]
    with pytest.raises(ProcessingError, match="answered a JSON array of 2 for 3 records"):
        split_answer(b"[1, 2]", "application/json", 3)
    with pytest.raises(ProcessingError, match="answered 1 lines for 2 records"):
        split_answer(b"1,2", "text/csv", 2)


def test_csv_join_appends_the_output_columns() -> None:
    join = DataProcessing("csv", join_input=True)
    assert join.finish(b"1,2,3", b"1", "text/csv") == b"1,2,3,1"  # AWS's example
    assert join.finish(b'a,"b,c"', b"[0.1, 0.9]", "application/json") == b'a,"b,c",0.1,0.9'
    assert join.finish(b"1,2", b"x,y", None) == b"1,2,x,y"


def test_csv_filters_and_join_are_pure_functions() -> None:
    steps = JobOptions(input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]")
    processing = steps.processing()
    assert processing.filter_input(b'id7,4,"1,5",86') == b'4,"1,5",86'
    assert processing.finish(b'id7,4,"1,5",86', b"23.5", "text/csv") == b"id7,23.5"
    plain = JobOptions(output_filter="$[1]").processing()
    assert plain.finish(b"ignored", b"a,b,c", "text/csv") == b"b"


def test_json_join_adds_sagemaker_output_or_wraps() -> None:
    join = DataProcessing("json", join_input=True)
    assert join.finish(b'{"key": 1}', b'{"label": 1}', "application/json") == (
        b'{"key": 1, "SageMakerOutput": {"label": 1}}'
    )
    assert join.finish(b"[1, 2]", b"0.5", "application/json") == (
        b'{"SageMakerInput": [1, 2], "SageMakerOutput": 0.5}'
    )
    assert join.finish(b"[1, 2]", b"not json", "text/plain") == (
        b'{"SageMakerInput": [1, 2], "SageMakerOutput": "not json"}'
    )
    options = JobOptions(
        content_type="application/jsonlines",
        input_filter="$.features",
        join_source="Input",
        output_filter="$['id','SageMakerOutput']",
    )
    processing = options.processing()
    record = b'{"id": 3, "features": [1, 2]}'
    assert processing.filter_input(record) == b"[1, 2]"
    assert processing.finish(record, b"[0.7]", "application/json") == (
        b'{"id": 3, "SageMakerOutput": [0.7]}'
    )


def test_records_that_do_not_fit_the_filter() -> None:
    processing = JobOptions(input_filter="$[9]").processing()
    with pytest.raises(ValueError, match="index 9 is outside the record's 2 elements"):
        processing.filter_input(b"a,b")
    json_filter = JobOptions(content_type="application/json", input_filter="$.x").processing()
    with pytest.raises(ProcessingError, match="not a JSON record"):
        json_filter.filter_input(b"{oops")


# -- settings -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (JobOptions(max_payload_mb=101), "MaxPayloadInMB=101: must be 0-100"),
        (JobOptions(max_payload_mb=-1), "MaxPayloadInMB=-1: must be 0-100"),
        (
            JobOptions(max_payload_mb=26, max_concurrent=4),
            "MaxConcurrentTransforms=4 x MaxPayloadInMB=26 is 104 MB: SageMaker allows at most",
        ),
        (JobOptions(max_concurrent=0), "MaxConcurrentTransforms=0: must be at least 1"),
        (JobOptions(split_type="TFRecord"), "SplitType TFRecord is not emulated"),
        (JobOptions(split_type="Lines"), "SplitType 'Lines': must be one of"),
        (JobOptions(batch_strategy="Multi"), "BatchStrategy 'Multi'"),
        (JobOptions(input_filter="$.id"), "only index paths apply"),
        (JobOptions(input_filter="$[1:"), "'[' without ']'"),
        (JobOptions(content_type="image/png", join_source="Input"), "need CSV or JSON input"),
        (JobOptions(split_type="None", join_source="Input"), "needs SplitType Line"),
        (JobOptions(join_source="Input", accept="image/png"), "need CSV or JSON output"),
        (JobOptions(invocation_timeout=3601), "InvocationsTimeoutInSeconds=3601"),
        (JobOptions(max_retries=4), "InvocationsMaxRetries=4: must be 0-3"),
    ],
)
def test_settings_sagemaker_refuses(options: JobOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        options.processing()


def test_dollar_filters_are_the_default_and_ask_for_nothing() -> None:
    processing = JobOptions(
        content_type="image/png", input_filter="$", output_filter="$"
    ).processing()
    assert processing.input_filter is None and not processing.per_record


def test_the_container_is_told_only_the_jobs_own_values() -> None:
    assert JobOptions().environment() == {"SAGEMAKER_BATCH": "true"}
    assert JobOptions(
        batch_strategy="SingleRecord", max_payload_mb=0, max_concurrent=2
    ).environment() == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
    }


def test_job_values_win_over_the_containers_which_win_over_defaults() -> None:
    default = resolve(JobOptions(), None)
    assert (default.max_concurrent, default.batch_strategy, default.max_payload_mb) == (
        1,
        "MultiRecord",
        6,
    )
    theirs = {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20}
    resolved = resolve(JobOptions(max_payload_mb=10), theirs)
    assert (resolved.max_concurrent, resolved.batch_strategy, resolved.max_payload_mb) == (
        4,
        "SingleRecord",
        10,
    )
    assert resolved.sources == ("container", "container", "job")
    assert resolved.limit == 10 * MB
    assert "MaxPayloadInMB=10 (job)" in resolved.describe()
    with pytest.raises(ConfigError, match="4 x MaxPayloadInMB=30 is 120 MB"):
        resolve(JobOptions(max_payload_mb=30), theirs)
    with pytest.raises(ConfigError, match="BatchStrategy='BOTH'"):
        resolve(JobOptions(), {"BatchStrategy": "BOTH"})


def test_execution_parameters_are_optional() -> None:
    assert container_parameters(404, b'{"error": "not_found"}') is None
    assert container_parameters(200, b"<html>") is None
    assert container_parameters(200, b"[1]") is None
    assert container_parameters(200, b'{"MaxPayloadInMB": 1}') == {"MaxPayloadInMB": 1}


def test_input_files_are_every_file_in_path_order(tmp_path: Path) -> None:
    for name in ("b.csv", "a/z.csv", "a/b/c.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1\n")
    assert [rel for _, rel in input_files(tmp_path)] == ["a/b/c.csv", "a/z.csv", "b.csv"]
    assert input_files(tmp_path / "b.csv") == [(tmp_path / "b.csv", "b.csv")]


# -- the real image under Docker ----------------------------------------------------------
INPUT = REPO / "local_test" / "transform_input"


@pytest.fixture(scope="module")
def batch_endpoint(image: str, trained: Path) -> Iterator[Endpoint]:
    """One container serving the trained model as a transform job starts it."""
    require_docker()
    endpoint = start_endpoint(
        image, trained / "model", env=JobOptions().environment(), isolated=True
    )
    try:
        endpoint.wait_healthy(120)
        yield endpoint
    finally:
        endpoint.stop()


def _outputs(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.out"))}


@pytest.mark.docker
def test_single_and_multi_record_give_the_same_predictions_in_order(
    batch_endpoint: Endpoint, tmp_path: Path
) -> None:
    files = input_files(INPUT)
    results = {}
    for strategy in ("SingleRecord", "MultiRecord"):
        options = JobOptions(accept="text/csv", batch_strategy=strategy, max_concurrent=2)
        outcome = transform_with(batch_endpoint.url, files, tmp_path / strategy, options)
        assert outcome.status == "Completed", outcome.failure_reason
        results[strategy] = _outputs(tmp_path / strategy)
    assert sorted(results["SingleRecord"]) == sorted(results["MultiRecord"])
    assert sorted(results["MultiRecord"]) == [f"{rel}.out" for _, rel in files]
    for name, text in results["MultiRecord"].items():  # float32 batches round differently
        single = [float(v) for v in results["SingleRecord"][name].splitlines()]
        assert [float(v) for v in text.splitlines()] == pytest.approx(single, rel=1e-5)
    for path, rel in files:
        status, body = batch_endpoint.invoke(path.read_bytes(), "text/csv", "text/csv")
        assert status == 200
        predicted = [float(v) for v in results["MultiRecord"][f"{rel}.out"].splitlines()]
        assert predicted == pytest.approx([float(v) for v in body.decode().split()])


@pytest.mark.docker
def test_csv_input_filter_join_and_output_filter(batch_endpoint: Endpoint, tmp_path: Path) -> None:
    rows = (INPUT / "cars-2.csv").read_text().splitlines()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ids.csv").write_text("".join(f"car-{i},{r}\n" for i, r in enumerate(rows)))
    options = JobOptions(
        accept="text/csv", input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]"
    )
    outcome = transform_with(batch_endpoint.url, input_files(tmp_path / "in"), tmp_path, options)
    assert outcome.status == "Completed", outcome.failure_reason
    status, body = batch_endpoint.invoke("\n".join(rows).encode(), "text/csv", "text/csv")
    assert status == 200
    expected = [f"car-{i},{v}" for i, v in enumerate(body.decode().split())]
    assert (tmp_path / "ids.csv.out").read_text().splitlines() == expected


@pytest.mark.docker
def test_a_file_with_a_bad_record_fails_the_job_and_gets_no_out(
    image: str, trained: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    subprocess.run(["cp", "-r", str(INPUT), str(inputs)], check=True)
    (inputs / "bad.csv").write_text("4,140,86,2790,15.6,82,1\n4,140,86\n8,350,165,3693,11.5,70,1\n")
    result = subprocess.run(
        [
            str(REPO / "local_test" / "transform_local.sh"), image,
            "--input", str(inputs), "--output", str(tmp_path / "out"),
        ],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MODEL": str(trained / "output" / "model.tar.gz")},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TransformJobStatus: Failed (4 files, 12 records transformed" in result.stdout
    assert (
        "FailureReason: 1 of 4 input files failed; bad.csv: line 2: the container answered 400 "
        "after 1 attempt: row 1 has 3 columns; expected 7"
    ) in result.stderr
    assert sorted(_outputs(tmp_path / "out")) == [
        "cars-1.csv.out",
        "cars-2.csv.out",
        "cars-3.csv.out",
    ]
    assert "/execution-parameters: " in result.stdout
