"""bench/soak.py with tiny bounds: it runs, exercises every kind of request, and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .server import REPO

pytestmark = pytest.mark.process


def test_soak_smoke(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    bounds = ["--warmup", "1", "--seconds", "2", "--json", str(out)]
    process = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), *bounds],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode in (0, 1), process.stdout + process.stderr
    report = json.loads(out.read_text())
    assert [s["point"] for s in report["samples"]] == ["start", "warm", "end"]
    assert all(len(s["processes"]) == 3 for s in report["samples"])  # master + 2 workers
    assert report["unexpected"] == [], report["unexpected"]
    assert not report["workers_replaced"] and report["exit_code"] == 0
    expected = {
        "csv": "200",
        "json": "200",
        "npy": "200",
        "ping": "200",
        "unknown-type": "415",
        "bad-csv": "400",
        "bad-json": "400",
        "handler-error": "500",
        "not-acceptable": "406",
        "oversize": "413",
        "gone-in-head": "left",
        "gone-in-body": "left",
        "gone-before-answer": "left",
    }
    assert {kind: set(outcomes) for kind, outcomes in report["counts"].items()} == {
        kind: {outcome} for kind, outcome in expected.items()
    }
    assert "warm -> end: RSS" in process.stdout
