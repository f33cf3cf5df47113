"""A bounded soak of ``serve``: good and bad requests and vanishing clients for a while,
then is memory or are file descriptors growing?

Starts the real ``serve`` (2 workers) over a small numpy handler on 127.0.0.1, samples the
RSS and open fds of the master and its workers at the start, after a warm-up and at the
end (each time with no client connected and the fd count settled), and prints the growth
from warm-up to end. Targets: RSS growth < 5 %, no fd growth, every request answered with
the status its kind must get, no worker replaced. Exit 0 when met, 1 when not, 2 when the
server does not start. ``python bench/soak.py --help`` for the bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from proctree import TreeSample, sample_tree
from soak_traffic import HANDLER, Traffic

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
RSS_TARGET_PERCENT = 5.0
LIMIT_MB = 1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    (root / "model" / "code").mkdir(parents=True)
    (root / "model" / "code" / "inference.py").write_text(HANDLER)
    env = {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(LIMIT_MB),
        "BYOC_HOST": "127.0.0.1",
    }
    log = (root / "serve.log").open("wb")
    return subprocess.Popen(
        [str(REPO / "serve")], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_healthy(port: int, process: subprocess.Popen[bytes], workers: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            healthy = conn.getresponse().status == 200
            conn.close()
            if healthy and len(sample_tree(process.pid).pids) == 1 + workers:
                return
        time.sleep(0.1)
    raise RuntimeError(f"serve is not healthy (exit code {process.poll()})")


def settled(pid: int, seconds: float = 8.0) -> TreeSample:
    """A sample once the fd count has held still for a second (connections closed)."""
    deadline = time.monotonic() + seconds
    sample = sample_tree(pid)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = sample_tree(pid)
        if again.fds != sample.fds or again.pids != sample.pids:
            still_since = time.monotonic()
        sample = again
        if time.monotonic() - still_since >= 1.0:
            break
    return sample


def run_phase(port: int, args: argparse.Namespace, seconds: float, requests: int | None) -> Traffic:
    traffic = Traffic(port, args.clients, LIMIT_MB * MIB, seed=int(time.time()))
    traffic.start(requests)
    traffic.wait(seconds)
    traffic.stop()
    return traffic


def describe(name: str, sample: TreeSample) -> dict[str, Any]:
    return {
        "point": name,
        "rss_mib": round(sample.rss / MIB, 2),
        "fds": sample.fds,
        "processes": [
            {"pid": p.pid, "rss_mib": round(p.rss / MIB, 2), "fds": p.fds} for p in sample.processes
        ],
    }


def soak(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    port = free_port()
    process = start_server(root, port, args.workers)
    try:
        wait_healthy(port, process, args.workers, args.start_timeout)
        samples = [("start", settled(process.pid))]
        started = time.monotonic()
        warm = run_phase(port, args, args.warmup, args.requests and max(args.requests // 5, 1))
        samples.append(("warm", settled(process.pid)))
        main_started = time.monotonic()
        main = run_phase(port, args, args.seconds, args.requests)
        main_seconds = time.monotonic() - main_started
        samples.append(("end", settled(process.pid)))
        elapsed = time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            code = process.wait(35)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait(5)
    counts: dict[str, dict[str, int]] = {}
    for (kind, outcome), n in sorted((warm.counts + main.counts).items()):
        counts.setdefault(kind, {})[outcome] = n
    warm_sample, end_sample = samples[1][1], samples[2][1]
    rss_growth = 100.0 * (end_sample.rss - warm_sample.rss) / warm_sample.rss
    fd_growth = end_sample.fds - warm_sample.fds
    unexpected = warm.unexpected + main.unexpected
    replaced = samples[0][1].pids != end_sample.pids
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": warm.sent + main.sent,
        "requests_per_second": round(main.sent / main_seconds, 1) if main_seconds else 0.0,
        "samples": [describe(name, sample) for name, sample in samples],
        "rss_growth_percent": round(rss_growth, 2),
        "fd_growth": fd_growth,
        "counts": counts,
        "unexpected": unexpected,
        "workers_replaced": replaced,
        "exit_code": code,
        "ok": rss_growth < RSS_TARGET_PERCENT
        and fd_growth <= 0
        and not unexpected
        and not replaced
        and code == 0,
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"soak: {report['requests']} requests in {report['seconds']} s "
        f"({report['requests_per_second']}/s after warm-up), {report['workers']} workers, "
        f"{report['clients']} clients, {report['cpus']} CPUs"
    )
    for sample in report["samples"]:
        each = ", ".join(
            f"{p['pid']}: {p['rss_mib']} MiB/{p['fds']} fds" for p in sample["processes"]
        )
        rss, fds = sample["rss_mib"], sample["fds"]
        print(f"  {sample['point']:>5}: RSS {rss:8.2f} MiB  fds {fds:4d}  ({each})")
    print(
        f"  warm -> end: RSS {report['rss_growth_percent']:+.2f} % (target < "
        f"{RSS_TARGET_PERCENT:g} %), fds {report['fd_growth']:+d} (target <= 0)"
    )
    for kind, outcomes in report["counts"].items():
        print(f"  {kind:>18}: " + ", ".join(f"{o} x{n}" for o, n in outcomes.items()))
    for line in report["unexpected"]:
        print(f"  UNEXPECTED {line}")
    if report["workers_replaced"]:
        print("  a worker was replaced during the soak: its growth is not measured")
    print(f"  serve exited with {report['exit_code']}; {'OK' if report['ok'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=100, help="after warm-up (100)")
    parser.add_argument("--warmup", type=float, default=20, help="warm-up seconds (20)")
    parser.add_argument("--requests", type=int, help="stop after this many (warm-up: a fifth)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--start-timeout", type=float, default=60)
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the directory (serve.log)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="byoc-soak-"))
    try:
        report = soak(args, root)
    except RuntimeError as exc:
        print(f"soak: {exc}; the log is in {root / 'serve.log'}:", file=sys.stderr)
        print((root / "serve.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        return 2
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.keep:
        print(f"serve.log is in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
