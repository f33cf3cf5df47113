#!/usr/bin/env python3
"""Slow clients: does a server still answer /ping and predictions while N connections
hold half-sent requests?

For each worker (``BYOC_WORKER=gthread``, gunicorn's stock worker, then ``BYOC_WORKER=byoc``)
and each N of ``--stalled`` (default 0,16,64), it starts ``serve`` afresh (2 workers, the
benchmark's model and handler, bench/inference.py), opens N connections that each send

    POST /invocations HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: text/csv\\r\\nContent-Le

and then nothing more, and measures ``--tries`` (default 20) times, one after another, a
``GET /ping`` and a 1-row ``POST /invocations``, each on a new connection and bounded by
``--timeout`` (default 5 s). It prints p50/max of the answered tries, the timeouts, how the
stalled connections landed on the workers (the kernel picks the worker that accepts; a
gthread worker with a free thread still answers), and how many the server still held at
the end (byoc answers them 408 after BYOC_REQUEST_READ_TIMEOUT, 30 s by default), then one
JSON line. Every server is stopped with its process tree; all traffic goes to 127.0.0.1.

    .venv/bin/python bench/slow_clients.py
    .venv/bin/python bench/slow_clients.py --stalled 64 --tries 10 --workers-kinds byoc

Exit code 0 when every run finished (whatever the figures), 1 on a setup error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_config import CONTENT_TYPE, ONE_ROW, BenchError, log
from bench_load import connections_per_process
from bench_measure import build_model_root
from bench_procs import free_port, tail
from bench_servers import Server
from bench_stacks import base_env, byoc_command

PARTIAL_HEAD = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Le"
KINDS = ("gthread", "byoc")


def request(port: int, method: str, path: str, body: bytes | None, timeout: float) -> tuple:
    """(outcome, seconds): outcome is the status, "timeout" or the error's name."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": CONTENT_TYPE, "Accept": "application/json"} if body else {}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        outcome: int | str = resp.status
    except TimeoutError:
        outcome = "timeout"
    except (OSError, http.client.HTTPException) as e:
        outcome = type(e).__name__
    finally:
        conn.close()
    return outcome, time.monotonic() - t0


def stall(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(PARTIAL_HEAD)
        socks.append(s)
    return socks


def still_open(socks: list[socket.socket]) -> int:
    """Stalled connections the server neither closed nor answered."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(1024)
        except BlockingIOError:
            n += 1
            continue
        except OSError:
            continue
        if not data:
            continue  # closed by the server
    return n


def summarize(samples: list[tuple]) -> dict:
    ok = [dt * 1000 for outcome, dt in samples if outcome == 200]
    return {
        "tries": len(samples),
        "ok": len(ok),
        "timeouts": sum(1 for outcome, _ in samples if outcome == "timeout"),
        "other": sorted({str(o) for o, _ in samples if o not in (200, "timeout")}),
        "p50_ms": statistics.median(ok) if ok else None,
        "max_ms": max(ok) if ok else None,
    }


def wait_ready(srv: Server, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not srv.alive():
            raise BenchError(f"serve exited with code {srv.proc.returncode}")
        outcome, _ = request(srv.port, "POST", "/invocations", ONE_ROW.encode(), 2)
        if outcome == 200:
            return time.monotonic() - srv.t_launch
        time.sleep(0.05)
    raise BenchError(f"serve did not answer a prediction within {timeout:.0f} s")


def one_run(root: Path, kind: str, n: int, args) -> dict:
    argv, pypath, _ = byoc_command()
    port = free_port()
    env = base_env(root, port, args.workers)
    env["BYOC_WORKER"] = kind
    if pypath:
        env["PYTHONPATH"] = pypath
    srv = Server(f"serve-{kind}-{n}", argv, env, root / f"run-{kind}-{n}", port, args.workers, None)
    srv.start()
    socks: list[socket.socket] = []
    try:
        wait_ready(srv, args.start_timeout)
        socks = stall(port, n)
        time.sleep(args.settle)  # let the server accept them and start reading
        split = connections_per_process(port)  # stalled connections per worker
        for pid, ppid in srv.pids():
            if ppid == srv.sid and pid not in split:
                split[pid] = 0
        ping, predict = [], []
        t0 = time.monotonic()
        for _ in range(args.tries):
            ping.append(request(port, "GET", "/ping", None, args.timeout))
            predict.append(request(port, "POST", "/invocations", ONE_ROW.encode(), args.timeout))
        elapsed = time.monotonic() - t0
        open_at_end = still_open(socks)
    finally:
        for s in socks:
            s.close()
        srv.stop()
    if srv.leftovers:
        raise BenchError(f"processes left behind: {srv.leftovers}")
    return {
        "worker": kind,
        "stalled": n,
        "ping": summarize(ping),
        "predict": summarize(predict),
        "stalled_open_at_end": open_at_end,
        "stalled_per_worker": sorted(split.values(), reverse=True),
        "seconds": elapsed,
        "log_tail": tail(srv.log_path, 5),
    }


def fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def print_table(rows: list[dict], args) -> None:
    print(
        f"\nslow clients: serve with {args.workers} workers, N connections each holding a "
        f"half-sent request head; {args.tries} tries of /ping and of a 1-row prediction, "
        f"each bounded by {args.timeout:g} s (ms; timeouts out of {args.tries})\n"
    )
    hdr = (
        f"{'worker':<8} {'stalled':>7} | {'ping p50':>9} {'ping max':>9} {'timeouts':>8} | "
        f"{'pred p50':>9} {'pred max':>9} {'timeouts':>8} | {'per worker':>10} "
        f"{'still stalled':>13} {'time s':>7}"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        p, q = r["ping"], r["predict"]
        other = sorted(set(p["other"]) | set(q["other"]))
        print(
            f"{r['worker']:<8} {r['stalled']:>7} | {fmt_ms(p['p50_ms']):>9} "
            f"{fmt_ms(p['max_ms']):>9} {p['timeouts']:>8} | {fmt_ms(q['p50_ms']):>9} "
            f"{fmt_ms(q['max_ms']):>9} {q['timeouts']:>8} | "
            f"{'/'.join(map(str, r['stalled_per_worker'])):>10} "
            f"{r['stalled_open_at_end']:>6}/{r['stalled']:<6} {r['seconds']:>7.1f}"
            + (f"  other outcomes: {', '.join(other)}" if other else "")
        )
    print("")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stalled", default="0,16,64", help="comma-separated N (default 0,16,64)")
    ap.add_argument(
        "--workers-kinds",
        default=",".join(KINDS),
        help="BYOC_WORKER values, in order (default gthread,byoc: before, after)",
    )
    ap.add_argument("--workers", type=int, default=2, help="serve workers (default 2)")
    ap.add_argument("--tries", type=int, default=20, help="tries per endpoint (default 20)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per try (default 5)")
    ap.add_argument(
        "--settle", type=float, default=0.5, help="seconds between stalling and measuring"
    )
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument("--json", metavar="PATH", help="also write the rows to this file")
    args = ap.parse_args(argv)
    args.stalled = [int(x) for x in args.stalled.split(",") if x.strip()]
    args.kinds = [k.strip() for k in args.workers_kinds.split(",") if k.strip()]
    if set(args.kinds) - set(KINDS) or not args.kinds:
        ap.error(f"--workers-kinds takes {','.join(KINDS)}")
    if min(args.stalled, default=0) < 0 or args.tries < 1 or args.workers < 1:
        ap.error("--stalled >= 0, --tries and --workers >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="byoc-slow-"))
    rows: list[dict] = []
    ok = False
    try:
        build_model_root(root)
        for kind in args.kinds:
            for n in args.stalled:
                log(f"[{kind}] {n} stalled connections")
                rows.append(one_run(root, kind, n, args))
        ok = True
    except BenchError as e:
        log(f"error: {e}")
    finally:
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log(f"temporary directory kept: {root}")
    print_table(rows, args)
    doc = [{k: v for k, v in r.items() if k != "log_tail"} for r in rows]
    print(json.dumps(doc))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
