#!/usr/bin/env python3
"""Benchmark a multi-model endpoint the way SageMaker's front end drives it.

Starts the real ``serve`` (``SAGEMAKER_MULTI_MODEL=true``) on 127.0.0.1, writes N small
numpy models sharing one handler (``BYOC_HANDLER``; ``--own-code``: each its own copy),
and sends a bounded, seeded, skewed stream of requests (80 % to 20 % of the models):
``POST /models/NAME/invoke``; on 404 ``POST /models``; on 507 ``DELETE`` the least
recently used model it loaded, and retry. At the end it deletes every model, so the
server's RSS then against its RSS at the start shows what load/unload cycles leak.
Any other answer is an error, and the exit code is 1. See bench/README.md.

    .venv/bin/python bench/mme.py --models 1000 --requests 2000
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
Conn = http.client.HTTPConnection
FEATURES = 8
HANDLER = """\
import os
import numpy as np

def model_fn(model_dir):
    return np.load(os.path.join(model_dir, "weights.npy"))

def predict_fn(data, weights):
    return [[float(p), os.getpid()] for p in (np.asarray(data, dtype=float) @ weights)[:, 0]]
"""
# column 0 of model i's weights is [i, 0, ...]: this row must predict [[i, worker pid]]
ROW = b"1" + b",0" * (FEATURES - 1) + b"\n"


# -- the models and the server ---------------------------------------------------------
def write_models(root: Path, count: int, size_kb: int, own_code: bool) -> list[str]:
    """``root/models/NAME/model/weights.npy`` of about ``size_kb``, and the handler."""
    import numpy as np  # here only: importing the script needs no numpy

    (root / "handler.py").write_text(HANDLER)
    names = [f"m{i:05d}" for i in range(count)]
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        weights = rng.random((FEATURES, max(1, size_kb * 1024 // (8 * FEATURES))))
        weights[:, 0] = 0.0
        weights[0, 0] = float(i)
        directory = root / "models" / name / "model"
        (directory / "code").mkdir(parents=True)
        np.save(directory / "weights.npy", weights)
        if own_code:
            (directory / "code" / "inference.py").write_text(HANDLER)
    return names


def start_server(root: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "SAGEMAKER_MULTI_MODEL": "true",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "BYOC_HOST": "127.0.0.1",
        "SAGEMAKER_BASE_DIR": str(root),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers),
        "BYOC_HANDLER": str(root / "handler.py"),
        "BYOC_MME_MAX_MODELS": str(args.max_models),
        "BYOC_MME_MEMORY_BUDGET_MB": str(args.memory_budget_mb or ""),
        "BYOC_MME_STATE_DIR": str(root / "manifest"),
        "BYOC_ACCESS_LOG": "false",
    }
    log = (root / "serve.log").open("wb")
    return subprocess.Popen(
        [str(REPO / "serve")], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_healthy(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = Conn("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return conn.close()
        time.sleep(0.05)
    raise RuntimeError(f"serve is not healthy (exit code {process.poll()}), see serve.log")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def session_rss(sid: int) -> int:
    """Resident bytes of every live process in session ``sid`` (the master and workers)."""
    total = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[3]) == sid and stat[0] not in ("Z", "X"):
                total += int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def sample_peak(sid: int, done: threading.Event, peak: list[int]) -> None:
    while not done.wait(0.1):
        peak[0] = max(peak[0], session_rss(sid))


# -- the front end ----------------------------------------------------------------------
@dataclass
class Stats:
    load: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    unload: list[float] = field(default_factory=list)
    full: int = 0  # 507s
    held: list[int] = field(default_factory=list)  # models loaded after each load
    most_unloads: int = 0  # in one cold invoke
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    served: Counter[int] = field(default_factory=Counter)  # invokes answered, per worker


class FrontEnd:
    """SageMaker's side: invoke, load on 404, unload the least recently used on 507."""

    def __init__(self, port: int, root: Path) -> None:
        self.port, self.root = port, root
        self.pool: list[Conn] = []
        self.turn = 0
        self.loaded: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self.stats = Stats()

    def _send(self, conn: Conn, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        kind = "text/csv" if path.endswith("/invoke") else "application/json"
        try:
            conn.request(method, path, body=body, headers={"Content-Type": kind})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()  # the next request on it reconnects
            return 0, f"{type(exc).__name__}: {exc}".encode()

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.turn = (self.turn + 1) % len(self.pool)
        return self._send(self.pool[self.turn], method, path, body)

    def open_pool(self, connections: int, workers: int, probe: str) -> None:
        """Keep-alive connections spread evenly over the workers: gunicorn gives a
        connection to one worker for its life, and a burst of connects may all land in one."""
        self.pool = [Conn("127.0.0.1", self.port, timeout=400)]
        if not self.load(probe):
            raise RuntimeError(f"could not load {probe}: {self.stats.errors}")
        self.pool, held = [], Counter[int]()
        for _ in range(50 * connections):
            if len(self.pool) == connections:
                return
            conn = Conn("127.0.0.1", self.port, timeout=400)
            status, body = self._send(conn, "POST", f"/models/{probe}/invoke", ROW)
            if status != 200:
                raise RuntimeError(f"invoke {probe}: {status} {body[:200]!r}")
            pid = int(json.loads(body)[0][1])
            if held[pid] < -(-connections // workers):
                held[pid] += 1
                self.pool.append(conn)
            else:
                conn.close()
        raise RuntimeError(f"connections did not spread over {workers} workers: {dict(held)}")

    def error(self, what: str, status: int, body: bytes) -> None:
        self.stats.errors.append(f"{what}: {status} {body[:200]!r}")

    def invoke(self, name: str, index: int) -> int:
        status, body = self.call("POST", f"/models/{name}/invoke", ROW)
        if status == 200:
            ((value, pid),) = json.loads(body)
            if value != index:
                self.error(f"invoke {name} answered another model", status, body)
                return 0
            self.stats.served[int(pid)] += 1
            self.loaded[name] = None
            self.loaded.move_to_end(name)
        elif status != 404 or name in self.loaded:
            self.error(f"invoke {name}", status, body)
        return status

    def unload(self, name: str) -> bool:
        started = time.perf_counter()
        status, body = self.call("DELETE", f"/models/{name}")
        del self.loaded[name]
        if status != 200:
            self.error(f"unload {name}", status, body)
        else:
            self.stats.unload.append(time.perf_counter() - started)
        return status == 200

    def load(self, name: str) -> bool:
        url = str(self.root / "models" / name / "model")
        payload = json.dumps({"model_name": name, "url": url}).encode()
        for unloads in range(len(self.loaded) + 1):
            started = time.perf_counter()
            status, body = self.call("POST", "/models", payload)
            if status == 200:
                self.stats.load.append(time.perf_counter() - started)
                self.loaded[name] = None
                self.stats.held.append(len(self.loaded))
                self.stats.most_unloads = max(self.stats.most_unloads, unloads)
                return True
            if status != 507 or not self.loaded:
                self.error(f"load {name}", status, body)
                return False
            self.stats.full += 1
            if not self.unload(next(iter(self.loaded))):
                return False
        return False  # not reached: with nothing loaded, a 507 is an error above

    def request(self, name: str, index: int) -> None:
        self.stats.requests += 1
        started = time.perf_counter()
        status = self.invoke(name, index)
        if status == 200:
            self.stats.warm.append(time.perf_counter() - started)
            return
        cold = status == 404 and name not in self.loaded
        if cold and self.load(name) and self.invoke(name, index) == 200:
            self.stats.cold.append(time.perf_counter() - started)


def skewed(count: int, requests: int, seed: int) -> list[int]:
    """``requests`` model indexes: 80 % of them to a fixed 20 % of the ``count`` models."""
    rng = random.Random(seed)
    order = list(range(count))
    rng.shuffle(order)
    cut = max(1, count // 5)
    hot, rest = order[:cut], order[cut:] or order
    return [rng.choice(hot if rng.random() < 0.8 else rest) for _ in range(requests)]


# -- the report -------------------------------------------------------------------------
def ms(values: list[float], q: int) -> float | None:
    """The ``q`` percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    return round(ordered[max(0, -(-len(ordered) * q // 100) - 1)] * 1000, 2) if values else None


def report(stats: Stats, rss: dict[str, int], seconds: float, args: argparse.Namespace) -> int:
    held = sorted(stats.held) or [0]
    result: dict[str, object] = {
        **{key: getattr(args, key) for key in ("models", "workers", "max_models", "model_kb")},
        "memory_budget_mb": args.memory_budget_mb, "own_code": args.own_code,
        "requests": stats.requests, "seconds": round(seconds, 1), "status_507": stats.full,
        "errors": len(stats.errors), "invokes_per_worker": sorted(stats.served.values()),
        "held_median": held[len(held) // 2], "held_max": held[-1],
        "most_unloads_per_load": stats.most_unloads,
        **{f"rss_{key}_mib": round(value / 2**20, 1) for key, value in rss.items()},
    }  # fmt: skip
    print(f"\n{'':<12} {'count':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label, values in (
        ("load", stats.load), ("warm invoke", stats.warm), ("cold invoke", stats.cold),
        ("unload", stats.unload),
    ):  # fmt: skip
        key, p50, p99 = label.replace(" ", "_"), ms(values, 50), ms(values, 99)
        result.update({f"{key}s": len(values), f"{key}_p50_ms": p50, f"{key}_p99_ms": p99})
        print(f"{label:<12} {len(values):>6} {p50 or '-':>8} {p99 or '-':>8}")
    print(
        f"{stats.requests} requests in {seconds:.1f} s; 507s {stats.full}; other errors "
        f"{len(stats.errors)}; invokes per worker {result['invokes_per_worker']}; models held "
        f"after a load: median {held[len(held) // 2]}, at most {held[-1]}; most unloads before "
        f"one load {stats.most_unloads}\nRSS of master + workers, MiB: "
        + ", ".join(f"{key} {value / 2**20:.1f}" for key, value in rss.items())
    )
    for line in stats.errors[:10]:
        print("error:", line)
    print(json.dumps(result))
    return 1 if stats.errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=240, help="wall-clock bound")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-models", type=int, default=50, help="0: no count limit")
    parser.add_argument("--memory-budget-mb", type=float, default=0, help="0: byoc default")
    parser.add_argument("--model-kb", type=int, default=4, help="size of each weights.npy")
    parser.add_argument("--own-code", action="store_true", help="code/inference.py per model")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="byoc-mme-bench-"))
    names = write_models(root, args.models, args.model_kb, args.own_code)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process, done, peak, code = start_server(root, port, args), threading.Event(), [0], 2
    try:
        wait_healthy(port, process, 60)
        front = FrontEnd(port, root)
        front.open_pool(args.connections, args.workers, names[0])
        front.stats, start = Stats(), session_rss(process.pid)  # the probe is not measured
        threading.Thread(target=sample_peak, args=(process.pid, done, peak), daemon=True).start()
        started = time.monotonic()
        for index in skewed(len(names), args.requests, args.seed):
            if time.monotonic() - started > args.seconds:
                break
            front.request(names[index], index)
        seconds, end = time.monotonic() - started, session_rss(process.pid)
        measured = len(front.stats.unload)
        for name in list(front.loaded):  # then every model goes: what is left is kept memory
            front.unload(name)
        del front.stats.unload[measured:]
        time.sleep(1.0)  # the followers run every 0.1 s
        rss = {"start": start, "peak": max(peak[0], end), "end": end}
        code = report(front.stats, {**rss, "empty": session_rss(process.pid)}, seconds, args)
    finally:
        done.set()
        stop_server(process)
        if code == 0 and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root} (server log: {root / 'serve.log'})", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
