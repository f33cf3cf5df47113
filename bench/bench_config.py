"""Constants shared by the benchmark's modules (bench/run.py and its bench_* helpers)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "invocations.lua"

SERVER_CORE = 0
LOADGEN_CORE = 1
ALL_SERVERS = (
    "byoc",
    "byoc-batch",
    "byoc-gthread",
    "peer",
    "bentoml",
    "bentoml-batch",
    "ceiling",
)
# ceiling next to byoc: their ratio is the tightest
RUN_ORDER = (
    "ceiling",
    "byoc",
    "byoc-batch",
    "byoc-gthread",
    "peer",
    "bentoml",
    "bentoml-batch",
)
# byoc twice: as it comes, and with dynamic batching switched on (byoc.batching); every
# byoc target is judged for both. byoc-gthread (gunicorn's stock worker, the server before
# byoc.worker) is shown in the table for comparison but judged by no target.
SUBJECTS = ("byoc", "byoc-batch")
BATCH_ENV = {"BYOC_MAX_BATCH_SIZE": "8"}
GTHREAD_ENV = {"BYOC_WORKER": "gthread"}
PAYLOADS = ("1row", "100rows")
PAYLOAD_LABEL = {"1row": "1 row", "100rows": "100 rows"}
CONTENT_TYPE = "text/csv"
# Sent with every measured request.  The toolkit answers JSON when Accept is missing;
# byoc, without SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, answers in the request's type
# (CSV).  Asking for JSON explicitly makes all servers do the same work; the answer
# without Accept is recorded separately (see check_responses).  BentoML ignores Accept
# and always answers JSON.
ACCEPT = "application/json"
ONE_ROW = "5.1,3.5,1.4,0.2"
MEMORY_WORKERS = 2
# Throughput runs with one worker: each stack's own default for the one core the server has
# (byoc and MMS start one worker per CPU). Two processes on one core made the result
# hinge on how gunicorn's workers happened to split wrk's 8 keep-alive connections
# (measured: byoc-batch 4,037 req/s at 8/0, 2,730 at 7/1). Memory gets a start of its
# own with MEMORY_WORKERS, the count the target names; --workers 2 measures both in one.
THROUGHPUT_WORKERS = 1

MMS_PID_FILE = Path(tempfile.gettempdir()) / ".model_server.pid"
MMS_CONFIG_FILE = Path("/etc/sagemaker-mms.properties")
MMS_JAVA_CLASS = "com.amazonaws.ml.mms.ModelServer"

# BentoML lives in a virtualenv of its own (bench/setup_bentoml.sh creates it).
BENTOML_VENV = Path(os.environ.get("BENCH_BENTOML_VENV") or BENCH_DIR / ".venv-bentoml")
BENTOML_SETUP = BENCH_DIR / "setup_bentoml.sh"
BENTOML_SERVICES = {"bentoml": "bentoml_service:Iris", "bentoml-batch": "bentoml_service:IrisBatch"}


class BenchError(Exception):
    """A server failed in a way that makes its numbers meaningless."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
