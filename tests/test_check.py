"""``byoc check``: the rules on our image, on a tiny correct image, and on tiny images
that each break exactly one rule (tests/check_images/server.py, one DEFECT each)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from byoc.check import RULES, CheckOptions, Outcome, Report, Status, run_check, select_rules
from byoc.check.batch import split_answer
from byoc.check.probe import Target
from byoc.check.sniff import _attempt
from byoc.cli import cli
from byoc.local import docker

from .docker_support import require_docker
from .server import REPO

TINY = Path(__file__).parent / "check_images"
TRANSFORM_GROUPS = ["multi-model", "batch", "train", "marketplace"]


# --- without Docker -------------------------------------------------------------------


def test_rules_are_selected_by_group_or_by_name() -> None:
    default = select_rules([])
    assert {"platform", "healthy", "slow-clients", "non-root"} <= default
    assert not default & {"mme-load", "execution-parameters", "train-success", "no-outbound"}
    assert "mme-gone" in select_rules(["multi-model"])
    assert select_rules(["batch"], ["sigterm", "mme-load"]) == {"sigterm", "mme-load"}
    with pytest.raises(ValueError, match="unknown rule nope"):
        select_rules([], ["nope"])


def test_usage_errors_exit_2_before_docker_is_asked() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["check", "x", "--rules", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["check", "x", "--content-type", "text/csv"]).exit_code == 2
    assert runner.invoke(cli, ["check"]).exit_code == 2
    listed = runner.invoke(cli, ["check", "--list"])
    assert listed.exit_code == 0 and all(rule_id in listed.output for rule_id in RULES)


def test_report_writes_one_junit_case_per_rule_and_json(tmp_path: Path) -> None:
    report = Report("img", seconds=3.0)
    report.outcomes = [
        Outcome(RULES["healthy"], Status.PASS, "1.0 s", "fine", 1.0),
        Outcome(RULES["slow-clients"], Status.FAIL, "ping max 2000 ms", "stalled"),
        Outcome(RULES["bind-to-port"], Status.NA, "no label", "port 8080"),
    ]
    report.write_junit(tmp_path / "r.xml")
    report.write_json(tmp_path / "r.json")
    cases = ET.parse(tmp_path / "r.xml").getroot().findall("testsuite/testcase")
    assert [case.get("name") for case in cases] == ["healthy", "slow-clients", "bind-to-port"]
    assert cases[1].find("failure") is not None and cases[2].find("skipped") is not None
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is False
    assert [rule["status"] for rule in data["rules"]] == ["PASS", "FAIL", "N/A"]
    assert "FAILED: slow-clients" in report.summary()


def test_answers_split_per_record() -> None:
    assert split_answer(b"[1.5, 2.5]") == [1.5, 2.5]
    assert split_answer(b'{"predictions": [[1], [2]]}') == [[1], [2]]
    assert split_answer(b"1.0\n2.0,3\n") == [[1.0], [2.0, 3.0]]


def _frame(destination: str, protocol: int, port: int, flags: int = 0, data: bytes = b"") -> bytes:
    ip = bytes([0x45, 0]) + b"\0" * 7 + bytes([protocol]) + b"\0" * 2
    ip += socket.inet_aton("172.18.0.2") + socket.inet_aton(destination)
    if protocol == 6:
        transport = struct.pack("!HHIIBB", 40000, port, 0, 0, 0x50, flags) + b"\0" * 6
    else:
        transport = struct.pack("!HHHH", 40000, port, 8 + len(data), 0) + data
    return b"\0" * 12 + b"\x08\x00" + ip + transport


def test_sniffer_counts_lookups_and_connections_not_answers() -> None:
    question = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04pypi\x03org\x00\x00\x01\x00\x01"
    )
    assert (
        _attempt(_frame("127.0.0.11", 17, 43521, data=question), "lo") == "DNS lookup of pypi.org"
    )
    assert _attempt(_frame("8.8.8.8", 6, 443, 0x02), "eth0") == "TCP connection to 8.8.8.8:443"
    assert _attempt(_frame("172.18.0.1", 6, 51000, 0x12), "eth0") is None  # SYN-ACK: an answer
    assert _attempt(_frame("127.0.0.1", 6, 8081, 0x02), "lo") is None  # its own processes
    assert _attempt(_frame("10.0.0.9", 17, 123), "eth0") == "UDP datagram to 10.0.0.9:123"


# --- with Docker ----------------------------------------------------------------------


def test_a_namespace_that_is_gone_is_an_os_error_every_time() -> None:
    """A ``--network none`` container that exits takes its namespace with it: each socket
    asked for afterwards is an OSError the health wait handles, not a broken pool."""
    pid = 2**22 + 1  # above pid_max's ceiling: never a live process
    target = Target("127.0.0.1", 8080, netns_pid=pid)
    try:
        for _ in range(2):
            with pytest.raises(FileNotFoundError, match=f"/proc/{pid}/ns/net"):
                target.new_socket()
    finally:
        target.close()


@pytest.fixture(scope="module")
def tiny() -> Iterator[Callable[[str], str]]:
    """``tiny(defect)``: the tiny image with that DEFECT (``""``: none), built on first use."""
    require_docker()
    base = os.environ.get("BYOC_BASE_IMAGE", "byoc-base:bookworm")
    if docker("image", "inspect", base, check=False).returncode != 0:
        pytest.fail(f"the tiny images are built FROM {base}, which is missing")
    built: dict[str, str] = {}

    def build(defect: str) -> str:
        if defect not in built:
            tag = f"byoc-check-tiny:{defect or 'good'}"
            args = ["build", "-q", "-t", tag, "--build-arg", f"BASE_IMAGE={base}"]
            args += ["--build-arg", f"DEFECT={defect}"]
            if defect == "no-labels":
                args += ["--build-arg", "VERSION=", "--build-arg", "REVISION="]
            docker(*args, str(TINY), timeout=300)
            built[defect] = tag
        return built[defect]

    yield build
    for tag in built.values():
        docker("rmi", "-f", tag, check=False)


def _run(image: str, args: list[str], tmp_path: Path) -> tuple[int, str, dict[str, Status]]:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["check", image, "--json", str(report), *args])
    assert report.is_file(), result.output
    statuses = {r["rule"]: Status(r["status"]) for r in json.loads(report.read_text())["rules"]}
    return result.exit_code, result.output, statuses


@pytest.mark.docker
def test_a_correct_tiny_image_passes_every_rule(tiny: Callable[[str], str], tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    args = ["--batch", "--marketplace", "--stop-grace", "5", "--junit", str(junit)]
    code, output, statuses = _run(tiny(""), args, tmp_path)
    assert code == 0, output
    assert set(statuses) == select_rules(["batch", "marketplace"])
    assert all(status is Status.PASS for status in statuses.values()), output
    assert "PASSED" in output
    cases = ET.parse(junit).getroot().findall("testsuite/testcase")
    assert len(cases) == len(statuses) and not any(case.find("failure") for case in cases)


# defect -> (the rule it breaks, rules of the same run that must still pass)
BROKEN = {
    "small-backlog": ("tcp-accept", ["prediction"]),
    "slow-ping": ("ping-latency", ["healthy"]),
    "ping-always-200": ("ping-before-load", ["healthy", "prediction"]),
    "500-on-bad-type": ("unsupported-content-type", ["unsupported-accept"]),
    "ignores-accept": ("unsupported-accept", ["unsupported-content-type"]),
    "crash-on-garbage": ("garbage-body", ["oversize-body", "prediction"]),
    "no-413": ("oversize-body", ["garbage-body"]),
    "single-threaded": ("slow-clients", ["prediction"]),
    "ignore-sigterm": ("sigterm", ["prediction"]),
    "wrong-port": ("bind-to-port", ["healthy", "prediction"]),
    "needs-network": ("network-none", ["healthy", "non-root"]),
    "writes-root-fs": ("read-only", ["non-root"]),
    "root-only": ("non-root", ["network-none"]),
    "no-labels": ("version-labels", ["platform", "healthy"]),
    "bad-execution-parameters": ("execution-parameters", ["multi-record-order"]),
    "reverses-records": ("multi-record-order", ["execution-parameters"]),
    "phones-home": ("no-outbound", ["network-none"]),
}


@pytest.mark.docker
@pytest.mark.parametrize("defect", list(BROKEN))
def test_an_image_breaking_one_rule_fails_that_rule_alone(
    defect: str, tiny: Callable[[str], str], tmp_path: Path
) -> None:
    broken, passing = BROKEN[defect]
    rules = ",".join([broken, *passing])
    code, output, statuses = _run(tiny(defect), ["--rules", rules, "--stop-grace", "3"], tmp_path)
    assert code == 1, output
    assert statuses == {broken: Status.FAIL, **{rule: Status.PASS for rule in passing}}, output
    assert f"FAILED: {broken}" in output
    assert any(f" {broken} " in line and " FAIL " in line for line in output.splitlines())


@pytest.mark.docker
def test_a_missing_image_is_a_usage_error() -> None:
    require_docker()
    result = CliRunner().invoke(cli, ["check", "byoc-check-no-such-image:0", "--rules", "platform"])
    assert result.exit_code == 2 and "not in the local Docker" in result.output


@pytest.mark.docker
def test_our_image_passes_every_rule(image: str, trained: Path, tmp_path: Path) -> None:
    job = tmp_path / "train"
    shutil.copytree(REPO / "local_test" / "test_dir" / "input", job / "input")
    (job / "input" / "config" / "hyperparameters.json").write_text('{"epochs": "3"}')
    options = CheckOptions(image, trained / "model", train_dir=job, say=print)
    report = run_check(options, select_rules(TRANSFORM_GROUPS))
    print(report.summary())
    by_rule = {outcome.rule.id: outcome for outcome in report.outcomes}
    assert set(by_rule) == set(RULES)
    statuses = {rule: o.status for rule, o in by_rule.items()}
    assert statuses == {rule: Status.PASS for rule in statuses}, report.summary()
    assert "3 pings meanwhile" in by_rule["slow-clients"].detail  # 64 stalled clients held
