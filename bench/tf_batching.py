#!/usr/bin/env python3
"""Dynamic batching on the Keras Auto MPG model: req/s and p50/p99, batching off and on.

It trains the worked example once as a local process (``train`` with
container/autompg/train.py on a temporary ``/opt/ml`` tree, ``--epochs`` 40), then starts
one ``serve`` per configuration -- batching off, and ``BYOC_MAX_BATCH_SIZE`` of each
``--batch-sizes`` (default 4,8,16,32) -- all pinned to core 0 with one worker and
container/autompg/inference.py (or ``--handler``), each checked and warmed up. Then wrk
(core 1) sends one-row CSV bodies, JSON answers, at each ``--connections`` (default
1,8,32) to each server in turn, ``--rounds`` times (interleaved, so the load other work
puts on the machine falls on every configuration alike); a cell is its median round.

Every server gets the same ``BYOC_THREADS`` (``--threads``, default the largest connection
count): a batch can hold only requests that a thread has taken, and batching off gets as
many threads queueing for its one handler slot, so the batch size is the only difference.
One more "off" keeps byoc's default of 8 threads, in case more threads only cost it. Ratios
are against both offs in the same run; the target against the faster. Server CPU per
request is printed next to the latencies: on a shared machine it varies less than req/s.

    .venv/bin/python bench/tf_batching.py                      # ~6 minutes
    .venv/bin/python bench/tf_batching.py --duration 10 --json tf.json
    .venv/bin/python bench/tf_batching.py --handler /tmp/old/inference.py   # before/after

Exit 0 when every server ran (whatever the figures), 1 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_config import REPO_DIR, BenchError, log
from bench_load import run_wrk
from bench_measure import http_post, wait_first_prediction
from bench_procs import free_port, tail, version_of
from bench_servers import Server
from bench_stacks import base_env

HANDLER = REPO_DIR / "container" / "autompg" / "inference.py"
TRAIN_PROGRAM = REPO_DIR / "container" / "autompg" / "train.py"
ONE_CAR = "4,140,86,2790,15.6,82,1"
TARGET_RPS_RATIO = 5.0  # issue 13: at 32 clients, batching >= 5x off, at a p99 no worse


def train(root: Path, epochs: int) -> float:
    """Train the example into root/model the way ``train`` does; seconds it took."""
    shutil.copytree(REPO_DIR / "local_test" / "test_dir" / "input", root / "input")
    hyper = {"epochs": str(epochs), "patience": "5"}
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyper))
    env = base_env(root, 8080, 1)  # the serving variables are ignored by train
    env |= {
        "BYOC_TRAINING_PROGRAM": str(TRAIN_PROGRAM),
        "PYTHON": sys.executable,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    t0 = time.monotonic()
    with open(root / "train.log", "wb") as out:
        rc = subprocess.run(
            [str(REPO_DIR / "train")], env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    if rc != 0:
        raise BenchError(f"training exited with {rc}:\n{tail(root / 'train.log', 15)}")
    return time.monotonic() - t0


def configs(args: argparse.Namespace) -> list[tuple[str, int, int | None]]:
    """(name, BYOC_MAX_BATCH_SIZE, BYOC_THREADS or None for byoc's default)."""
    off = [("off", 1, args.threads), ("off, 8 th", 1, None)]  # the second: as byoc comes
    return off + [(f"batch {n}", n, args.threads) for n in args.batch_sizes]


def serve(
    root: Path, name: str, batch: int, threads: int | None, args: argparse.Namespace
) -> Server:
    port = free_port()
    env = base_env(root, port, 1)
    env.update(
        {
            "PYTHON": sys.executable,
            "BYOC_HANDLER": str(args.handler),
            "BYOC_MAX_BATCH_SIZE": str(batch),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    if threads is not None:
        env["BYOC_THREADS"] = str(threads)
    if args.delay_ms is not None:
        env["BYOC_MAX_BATCH_DELAY_MS"] = str(args.delay_ms)
    run_dir = root / ("run-" + "".join(ch if ch.isalnum() else "-" for ch in name))
    return Server(name, [str(REPO_DIR / "serve")], env, run_dir, port, 1, None)


def check_answer(srv: Server) -> float:
    status, _, data = http_post(srv.port, ONE_CAR.encode(), timeout=10)
    answer = json.loads(data) if status == 200 else None
    if not (isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], float)):
        raise BenchError(f"[{srv.name}] answered {status} {data[:200]!r}, not one MPG")
    return float(answer[0])


def start(
    root: Path, body: Path, config: tuple[str, int, int | None], args: argparse.Namespace
) -> dict:
    """A ready, warmed-up server (its first answer checked)."""
    name, batch, threads = config
    srv = serve(root, name, batch, threads, args)
    srv.start()
    try:
        ready, _ = wait_first_prediction(srv, ONE_CAR.encode(), args.start_timeout)
        mpg = check_answer(srv)
        if args.warmup > 0:  # every batch shape the model will see, before measuring
            run_wrk(srv.port, body, args.warmup, max(args.connections))
    except BenchError:
        log(tail(srv.log_path, 20))
        srv.stop()
        raise
    log(f"[{name}] first prediction {ready:.1f} s after start: {mpg:.2f} mpg")
    return {"name": name, "batch": batch, "ready_s": ready, "mpg": mpg, "srv": srv, "cells": {}}


def measure(row: dict, body: Path, connections: int, args: argparse.Namespace) -> None:
    srv: Server = row["srv"]
    res = run_wrk(srv.port, body, args.duration, connections, srv)
    if res["non2xx"] or res["socket_errors"]:
        raise BenchError(
            f"[{srv.name}] {connections} connections: {res['non2xx']} non-2xx, "
            f"{res['socket_errors']} socket errors; first bad: {res['first_bad']}"
        )
    seconds = res["duration_us"] / 1e6
    cell = {k: res[k] for k in ("rps", "p50_ms", "p99_ms", "requests")}
    # CPU the server spent per request: much steadier than req/s on a shared machine.
    cell["cpu_ms"] = res["cpu"]["server_pct"] / 100 * seconds / res["requests"] * 1000
    cell["other_cpu_pct"] = res["cpu"]["other_pct"]
    row["cells"].setdefault(connections, []).append(cell)
    log(
        f"[{srv.name}] c={connections}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.2f} ms, "
        f"p99 {res['p99_ms']:.2f} ms, server CPU {cell['cpu_ms']:.2f} ms/request "
        f"(other processes: {res['cpu']['other_pct']:.0f} % of a core)"
    )


def median_cells(rows: list[dict]) -> None:
    """Each cell: the round with the median req/s (its p99 and CPU with it)."""
    for row in rows:
        row["runs"] = {
            c: sorted(cells, key=lambda cell: cell["rps"])[(len(cells) - 1) // 2]
            for c, cells in row["cells"].items()
        }


def print_table(rows: list[dict], args: argparse.Namespace) -> None:
    conns = args.connections
    print(
        f"\nKeras Auto MPG, serve with 1 worker on core 0, BYOC_THREADS={args.threads} "
        "(but 'off, 8 th': byoc's default), "
        f"wrk on core 1, 1 CSV row per request; median of {args.rounds} interleaved "
        f"rounds of {args.duration} s per cell; req/s, p50 and p99 ms, server CPU ms/request\n"
    )
    head = f"{'config':<9}" + "".join(
        f" | {f'{c} conn req/s':>13} {'p50':>6} {'p99':>6} {'cpu':>5}" for c in conns
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = "".join(
            f" | {r['runs'][c]['rps']:>13,.0f} {r['runs'][c]['p50_ms']:>6.2f} "
            f"{r['runs'][c]['p99_ms']:>6.2f} {r['runs'][c]['cpu_ms']:>5.2f}"
            for c in conns
        )
        print(f"{r['name']:<9}{cells}")
    offs = [r for r in rows if r["batch"] == 1]
    batched = [r for r in rows if r["batch"] > 1]
    for off in offs:
        print(f"\nvs {off['name']}, same run: req/s ratio (p99 ratio)\n")
        for r in batched:
            cells = "".join(
                f" | {c:>3} conn {r['runs'][c]['rps'] / off['runs'][c]['rps']:>5.2f}x "
                f"({r['runs'][c]['p99_ms'] / off['runs'][c]['p99_ms']:.2f})"
                for c in conns
            )
            print(f"{r['name']:<9}{cells}")
    top = max(conns)
    if batched:  # judged against the faster "off", so it is not won by a handicapped one
        off = max(offs, key=lambda r: r["runs"][top]["rps"])["runs"][top]
        best = max(batched, key=lambda r: r["runs"][top]["rps"])
        ratio = best["runs"][top]["rps"] / off["rps"]
        p99 = best["runs"][top]["p99_ms"] / off["p99_ms"]
        met = ratio >= TARGET_RPS_RATIO and p99 <= 1.0
        print(
            f"\ntarget at {top} connections: >= {TARGET_RPS_RATIO:g}x the faster off, at a p99 "
            f"no worse: best {best['name']} {ratio:.2f}x, p99 {p99:.2f}x: "
            f"{'PASS' if met else 'FAIL'}"
        )
    print("")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", default="1,8,32", help="wrk connections (default 1,8,32)")
    ap.add_argument("--batch-sizes", default="4,8,16,32", help="BYOC_MAX_BATCH_SIZE values")
    ap.add_argument("--threads", type=int, help="BYOC_THREADS (default: most connections)")
    ap.add_argument("--delay-ms", type=float, help="BYOC_MAX_BATCH_DELAY_MS (default: byoc's)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    ap.add_argument("--handler", type=Path, default=HANDLER, help="BYOC_HANDLER (a file)")
    ap.add_argument("--start-timeout", type=float, default=120.0)
    ap.add_argument("--json", metavar="PATH", help="also write the results to this file")
    args = ap.parse_args(argv)
    args.connections = [int(x) for x in args.connections.split(",") if x.strip()]
    args.batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    args.threads = args.threads or max(args.connections)
    args.handler = args.handler.resolve()
    if min(args.connections, default=0) < 1 or min(args.batch_sizes, default=2) < 2:
        ap.error("--connections >= 1, --batch-sizes >= 2")
    if args.rounds < 1:
        ap.error("--rounds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="byoc-tfbatch-"))
    load_before = os.getloadavg()
    rows: list[dict] = []
    ok = False
    try:
        log(f"training the Auto MPG model ({args.epochs} epochs) in {root}")
        train_s = train(root, args.epochs)
        body = root / "one_car.csv"
        body.write_text(ONE_CAR + "\n")
        for config in configs(args):  # all at once: idle ones cost no CPU
            rows.append(start(root, body, config, args))
        for _ in range(args.rounds):  # interleaved, so the machine's load drifts evenly
            for c in args.connections:
                for row in rows:
                    measure(row, body, c, args)
        median_cells(rows)
        ok = True
    except BenchError as e:
        log(f"error: {e}")
    finally:
        for row in rows:
            row.pop("srv").stop()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"temporary directory kept: {root}")
    load_after = os.getloadavg()
    if ok:
        print_table(rows, args)
        print(
            f"load average (1/5/15 min) before {', '.join(f'{v:.1f}' for v in load_before)}, "
            f"after {', '.join(f'{v:.1f}' for v in load_after)}; training took {train_s:.0f} s; "
            f"tensorflow {version_of('tensorflow-cpu')}, keras {version_of('keras')}\n"
        )
    doc = {
        "handler": str(args.handler),
        "threads": args.threads,
        "duration": args.duration,
        "rounds": args.rounds,
        "load_before": load_before,
        "load_after": load_after,
        "rows": rows,
    }
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
