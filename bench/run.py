#!/usr/bin/env python3
"""Benchmark byoc against the sagemaker-inference toolkit on multi-model-server (the
"peer"), against BentoML 1.4 with and without adaptive batching, and against a bare Flask
app on gunicorn (the "ceiling").

One run starts each server in turn, with the same scikit-learn iris model and the same
unmodified toolkit-style handler script (bench/inference.py; BentoML runs its own
documented service, bench/bentoml_service.py, on the same model file), and measures:

* cold start: launching the server process -> first successful prediction;
* throughput and latency with wrk (req/s, p50, p99) for a 1-row and a 100-row CSV body;
* RSS and PSS summed over the server's whole process tree, after the load runs.

The server (and every process it starts) is pinned to core 0, wrk and this script to
core 1.  All traffic goes to 127.0.0.1.  Every process started is stopped at the end,
also on error or Ctrl-C.

    python bench/run.py                      # every stack, 10 s per payload, 1 worker
    python bench/run.py --only byoc,ceiling --duration 5 --json /tmp/bench.json

The pieces: bench_config (constants), bench_procs (/proc), bench_servers (start/stop),
bench_stacks (each stack's command line), bench_load (wrk, CPU accounting),
bench_measure (one server's measurement), bench_report (targets, table).
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench_config import (
    ACCEPT,
    ALL_SERVERS,
    CONTENT_TYPE,
    LOADGEN_CORE,
    MEMORY_WORKERS,
    RUN_ORDER,
    SERVER_CORE,
    THROUGHPUT_WORKERS,
    BenchError,
    log,
)
from bench_measure import build_model_root, run_server
from bench_procs import tool_version, version_of
from bench_report import evaluate_targets, print_report
from bench_servers import Server
from bench_stacks import bentoml_version, make_factories


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        default=",".join(ALL_SERVERS),
        help=f"comma-separated subset of {','.join(ALL_SERVERS)} (default: all)",
    )
    ap.add_argument(
        "--duration", type=int, default=10, help="seconds of wrk load per payload (default 10)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=THROUGHPUT_WORKERS,
        help="SAGEMAKER_MODEL_SERVER_WORKERS for every server's throughput runs (default 1, "
        "each stack's default on one core; memory is always measured with 2, in a separate "
        "start if this differs)",
    )
    ap.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=6,
        help="seconds of wrk warm-up before measuring, split over the payloads (default 6; "
        "the peer's JVM needs a few seconds to compile its hot paths)",
    )
    ap.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        help="max seconds from launch to first successful prediction (default 60)",
    )
    ap.add_argument("--json", metavar="PATH", help="write all numbers to this JSON file")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any target FAILs")
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (model, logs)"
    )
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(ALL_SERVERS)
    if unknown or not only:
        ap.error(f"--only takes a subset of {','.join(ALL_SERVERS)}; got {args.only!r}")
    args.only = only
    if args.duration < 1 or args.workers < 1 or args.connections < 1:
        ap.error("--duration, --workers and --connections must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            log(f"error: `{tool}` not found on PATH (see bench/README.md)")
            return 2
    if (os.cpu_count() or 1) < 2:
        log("error: needs 2 cores (server on core 0, wrk on core 1)")
        return 2
    # keep this script (cold-start polling, checks) off the server's core
    os.sched_setaffinity(0, {LOADGEN_CORE})

    root = Path(tempfile.mkdtemp(prefix="byoc-bench-"))
    cleanup: list[Server] = []
    results: dict = {}
    failed_hard = False
    try:
        bodies, files, expected = build_model_root(root)
        factories = make_factories(root, expected)
        for name in RUN_ORDER:
            if name not in args.only:
                continue
            try:
                results[name] = run_server(factories[name], name, args, bodies, files, cleanup)
            except BenchError as e:  # e.g. byoc not installed, another MMS running
                log(f"[{name}] !!! FAILED: {e}")
                results[name] = {"status": "FAILED", "errors": [str(e)]}
    except KeyboardInterrupt:
        log("interrupted; stopping servers")
        failed_hard = True
        raise
    finally:
        for srv in list(cleanup):
            try:
                srv.stop()
            except Exception as e:
                log(f"[{srv.name}] stop failed: {e}")
        errors_seen = failed_hard or any(r.get("status") != "ok" for r in results.values())
        if args.keep or errors_seen:
            log(f"temporary directory kept: {root} (model, server logs)")
        else:
            shutil.rmtree(root, ignore_errors=True)

    targets = evaluate_targets(results)
    print_report(results, targets, args)

    if args.json:
        doc = {
            "config": {
                "duration_s": args.duration,
                "workers": args.workers,
                "memory_workers": MEMORY_WORKERS,
                "connections": args.connections,
                "wrk_threads": 1,
                "warmup_s": args.warmup,
                "server_core": SERVER_CORE,
                "loadgen_core": LOADGEN_CORE,
                "content_type": CONTENT_TYPE,
                "accept": ACCEPT,
                "payloads": {
                    k: {"rows": 1 if k == "1row" else 100, "bytes": len(v)}
                    for k, v in bodies.items()
                },
                "versions": {
                    "python": sys.version.split()[0],
                    **{
                        d: version_of(d)
                        for d in (
                            "byoc",
                            "flask",
                            "gunicorn",
                            "scikit-learn",
                            "numpy",
                            "sagemaker-inference",
                            "multi-model-server",
                        )
                    },
                    "bentoml": bentoml_version(),
                    "java": tool_version(["java", "-version"]),
                    "wrk": tool_version(["wrk", "-v"]),
                },
            },
            "servers": results,
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")

    if any(r.get("status") != "ok" for r in results.values()):
        log(
            "!!! at least one server FAILED or returned non-2xx / socket errors: "
            "its numbers are not valid"
        )
        return 2
    if args.strict and any(t["result"] == "FAIL" for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
