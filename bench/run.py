#!/usr/bin/env python3
"""Benchmark byoc against the sagemaker-inference toolkit on multi-model-server (the
"peer") and against a bare Flask app on gunicorn (the "ceiling").

One run starts each server in turn, with the same scikit-learn iris model and the same
unmodified toolkit-style handler script (bench/inference.py), and measures:

* cold start: launching the server process -> first successful prediction;
* throughput and latency with wrk (req/s, p50, p99) for a 1-row and a 100-row CSV body;
* RSS and PSS summed over the server's whole process tree, after the load runs.

The server (and every process it starts) is pinned to core 0, wrk and this script to
core 1.  All traffic goes to 127.0.0.1.  Every process started is stopped at the end,
also on error or Ctrl-C.

    python bench/run.py                      # all three, 10 s per payload, 2 workers
    python bench/run.py --only byoc,ceiling --duration 5 --json /tmp/bench.json

See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "invocations.lua"

SERVER_CORE = 0
LOADGEN_CORE = 1
ALL_SERVERS = ("byoc", "byoc-batch", "peer", "ceiling")
# ceiling next to byoc: their ratio is the tightest
RUN_ORDER = ("ceiling", "byoc", "byoc-batch", "peer")
# byoc twice: as it comes, and with dynamic batching switched on (byoc.batching); every
# byoc target is judged for both.
SUBJECTS = ("byoc", "byoc-batch")
BATCH_ENV = {"BYOC_MAX_BATCH_SIZE": "8"}
PAYLOADS = ("1row", "100rows")
PAYLOAD_LABEL = {"1row": "1 row", "100rows": "100 rows"}
CONTENT_TYPE = "text/csv"
# Sent with every measured request.  The toolkit answers JSON when Accept is missing;
# byoc, without SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, answers in the request's type
# (CSV).  Asking for JSON explicitly makes all servers do the same work; the answer
# without Accept is recorded separately (see check_responses).
ACCEPT = "application/json"
ONE_ROW = "5.1,3.5,1.4,0.2"
MEMORY_WORKERS = 2
# Throughput runs with one worker: each stack's own default for the one core the server
# has (byoc and MMS start one worker per CPU). Two processes on one core made the result
# hinge on how gunicorn's workers happened to split wrk's 8 keep-alive connections
# (measured: byoc-batch 4,037 req/s at 8/0, 2,730 at 7/1). Memory gets a start of its
# own with MEMORY_WORKERS, the count the target names; --workers 2 measures both in one.
THROUGHPUT_WORKERS = 1

MMS_PID_FILE = Path(tempfile.gettempdir()) / ".model_server.pid"
MMS_CONFIG_FILE = Path("/etc/sagemaker-mms.properties")
MMS_JAVA_CLASS = "com.amazonaws.ml.mms.ModelServer"

# Targets: (key, description, threshold text)
TARGETS = [
    ("rps_1row_vs_peer", "byoc req/s / peer req/s (1 row)", ">= 3.00x"),
    ("rps_100rows_vs_peer", "byoc req/s / peer req/s (100 rows)", ">= 3.00x"),
    ("p99_1row_vs_peer", "byoc p99 / peer p99 (1 row)", "<= 0.333"),
    ("p99_100rows_vs_peer", "byoc p99 / peer p99 (100 rows)", "<= 0.333"),
    ("cold_start", "byoc cold start", "<= 1.30 s"),
    ("pss_vs_peer", "byoc PSS / peer PSS (2 workers)", "<= 0.50x"),
    ("rps_1row_vs_ceiling", "byoc req/s / ceiling req/s (1 row)", ">= 0.85x"),
]


class BenchError(Exception):
    """A server failed in a way that makes its numbers meaningless."""


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    """A port below 32767 (multi-model-server rejects higher ones) that is free now."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(20000, 32000)
        ok = True
        for host in ("0.0.0.0", "127.0.0.1"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port found below 32767")


def read_proc_stat(pid: int):
    """(state, ppid, pgrp, session) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def session_pids(sid: int) -> list[tuple[int, int]]:
    """Live (non-zombie) processes of session ``sid`` as (pid, ppid)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = read_proc_stat(int(d))
        if st and st[3] == sid and st[0] not in ("Z", "X"):
            out.append((int(d), st[1]))
    return out


def find_mms_java() -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and MMS_JAVA_CLASS in cmdline(int(d)):
            st = read_proc_stat(int(d))
            if st and st[0] not in ("Z", "X"):
                pids.append(int(d))
    return pids


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss and Pss in kB from /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1].lower()] = int(parts[1])
    return out


def cpus_allowed(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def http_post(
    port: int, body: bytes, timeout: float, accept: str | None = ACCEPT
) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": CONTENT_TYPE}
    if accept:
        headers["Accept"] = accept
    try:
        conn.request("POST", "/invocations", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0] if text else "?"


# --------------------------------------------------------------------------- model


def build_model_root(root: Path):
    """<root>/model/model.joblib + <root>/model/code/inference.py; returns the payloads
    and the predictions the servers must return for them."""
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    (root / "model" / "code").mkdir(parents=True)
    joblib.dump(model, root / "model" / "model.joblib")
    shutil.copy(BENCH_DIR / "inference.py", root / "model" / "code" / "inference.py")

    rows100 = X[np.linspace(0, len(X) - 1, 100).astype(int)]
    bodies = {
        "1row": ONE_ROW,
        "100rows": "\n".join(",".join(f"{v:g}" for v in row) for row in rows100),
    }
    expected = {
        "1row": model.predict(np.array([[float(v) for v in ONE_ROW.split(",")]])).tolist(),
        "100rows": model.predict(rows100).tolist(),
    }
    files = {}
    for name, text in bodies.items():
        p = root / f"body_{name}.csv"
        p.write_text(text)
        files[name] = p
    return bodies, files, expected


# --------------------------------------------------------------------------- servers


class Server:
    """One server under test, started in its own session pinned to SERVER_CORE."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict,
        cwd: Path,
        port: int,
        workers: int,
        expected: dict | None,
        note: str = "",
    ):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.port = port
        self.workers = workers
        self.expected = expected  # None: constant body (ceiling)
        self.note = note
        self.proc: subprocess.Popen | None = None
        self.log_path = cwd / f"{name}.log"
        self.t_launch = 0.0
        self.leftovers: list[str] = []

    # --- lifecycle
    def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logf:
            self.t_launch = time.monotonic()
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(SERVER_CORE), *self.argv],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def sid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        sid = self.sid
        self.before_stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            self.proc.poll()
            if not session_pids(sid):
                break
            time.sleep(0.1)
        remaining = session_pids(sid)
        if remaining:
            log(f"[{self.name}] still running after SIGTERM: {[p for p, _ in remaining]}; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sid, signal.SIGKILL)
            for pid, _ in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and session_pids(sid):
                self.proc.poll()
                time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        left = session_pids(sid)
        self.leftovers = [f"{pid} {' '.join(cmdline(pid))[:120]}" for pid, _ in left]
        if self.leftovers:
            log(f"[{self.name}] PROCESSES LEFT BEHIND: {self.leftovers}")
        self.after_stop()
        self.proc = None

    def before_stop(self) -> None:
        pass

    def after_stop(self) -> None:
        pass

    # --- measurements
    def processes(self) -> list[dict]:
        out = []
        for pid, ppid in sorted(session_pids(self.sid)):
            argv = cmdline(pid)
            try:
                mem = smaps_rollup(pid)
            except OSError:
                continue
            out.append(
                {
                    "pid": pid,
                    "ppid": ppid,
                    "role": self.role(pid, ppid, argv),
                    "rss_kib": mem.get("rss", 0),
                    "pss_kib": mem.get("pss", 0),
                    "cpus_allowed": cpus_allowed(pid),
                    "cmd": " ".join(argv)[:160],
                }
            )
        return out

    def role(self, pid: int, ppid: int, argv: list[str]) -> str:
        if pid == self.sid:
            return "master"
        if ppid == self.sid:
            return "worker"
        return "child"

    def counted(self, proc: dict) -> bool:
        return True


class MMSPeer(Server):
    """sagemaker-inference toolkit's start_model_server on multi-model-server."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._saved_config: bytes | None = None
        self._had_config = False

    def preflight(self) -> None:
        for tool in ("java", "multi-model-server"):
            if not shutil.which(tool, path=self.env["PATH"]):
                raise BenchError(f"peer needs `{tool}` on PATH")
        running = find_mms_java()
        if running:
            raise BenchError(
                f"another multi-model-server is running (java pid {running}); MMS uses "
                "/tmp/.mms.sock.9000 so only one can run per machine. Stop it first "
                "(multi-model-server --stop)."
            )
        if MMS_PID_FILE.exists():
            log(f"[peer] removing stale {MMS_PID_FILE}")
            MMS_PID_FILE.unlink()
        # the toolkit overwrites this global file; put it back afterwards
        self._had_config = MMS_CONFIG_FILE.exists()
        if self._had_config:
            self._saved_config = MMS_CONFIG_FILE.read_bytes()

    def start(self) -> None:
        self.preflight()
        super().start()

    def before_stop(self) -> None:
        # The documented way first: `multi-model-server --stop` kills the java frontend and
        # its workers (only if the pid file points into our session).
        try:
            pid = int(MMS_PID_FILE.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        st = read_proc_stat(pid)
        if st and st[3] == self.sid:
            try:
                subprocess.run(
                    ["multi-model-server", "--stop"],
                    env=self.env,
                    cwd=self.cwd,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                log(f"[peer] multi-model-server --stop failed: {e}")

    def after_stop(self) -> None:
        if MMS_PID_FILE.exists():
            try:
                pid = int(MMS_PID_FILE.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if read_proc_stat(pid) is None:
                MMS_PID_FILE.unlink(missing_ok=True)
        if not find_mms_java():
            for sock in Path(tempfile.gettempdir()).glob(".mms.sock.*"):
                sock.unlink(missing_ok=True)
        try:
            if self._had_config and self._saved_config is not None:
                MMS_CONFIG_FILE.write_bytes(self._saved_config)
            elif not self._had_config:
                MMS_CONFIG_FILE.unlink(missing_ok=True)
        except OSError as e:
            log(f"[peer] could not restore {MMS_CONFIG_FILE}: {e}")

    def role(self, pid: int, ppid: int, argv: list[str]) -> str:
        joined = " ".join(argv)
        if pid == self.sid:
            return "launcher (start_model_server)"
        if MMS_JAVA_CLASS in joined:
            return "java frontend"
        if "model_service_worker.py" in joined:
            return "python worker"
        if "metric_collector" in joined:
            return "metric collector (transient)"
        return "child"

    def counted(self, proc: dict) -> bool:
        # MMS starts a short-lived metric collector every minute; it is not part of the
        # steady-state footprint, so it is listed but not summed.
        return "transient" not in proc["role"]


# --------------------------------------------------------------------------- wrk

CLK_TCK = os.sysconf("SC_CLK_TCK")
OTHER_CPU_WARN_PCT = 5.0


def connections_per_process(port: int) -> dict[int, int]:
    """Established connections to the server port, per server process (ss -tnp)."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    counts: dict[int, int] = {}
    for line in out.splitlines():
        m = re.search(r"pid=(\d+)", line)
        if m:
            counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
    return counts


def core_speed(core: int) -> float:
    """Seconds for a fixed pure-Python loop on ``core``: the same number before every
    server means the machine ran at the same speed (a VM's host can change it)."""
    code = (
        f"import os, time\nos.sched_setaffinity(0, {{{core}}})\nbest = 9e9\n"
        "for _ in range(3):\n    t = time.perf_counter(); s = 0\n"
        "    for i in range(2_000_000): s += i\n"
        "    best = min(best, time.perf_counter() - t)\nprint(best)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        return float(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return float("nan")


def cpu_snapshot(sid: int) -> dict:
    """CPU seconds so far: whole machine (user+nice+system, steal), the server's session,
    this script, and its reaped children (wrk)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (vals + [0] * 8)[:8]
    server = 0
    for pid, _ in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            rest = st[st.rindex(")") + 2 :].split()
            server += int(rest[11]) + int(rest[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "t": time.monotonic(),
        "procs": (user + nice + system) / CLK_TCK,
        "steal": steal / CLK_TCK,
        "irq": (irq + softirq) / CLK_TCK,
        "server": server / CLK_TCK,
        "self": me.ru_utime + me.ru_stime,
        "children": kids.ru_utime + kids.ru_stime,
    }


def cpu_usage(before: dict, after: dict) -> dict:
    """Percent of one core used during the interval by: the server, wrk (+ this script),
    everything else on the machine ("other" -- the noise), hypervisor steal, and irqs."""
    dt = max(1e-6, after["t"] - before["t"])
    d = {k: after[k] - before[k] for k in before if k != "t"}
    loadgen = d["self"] + d["children"]
    other = d["procs"] - d["server"] - loadgen
    return {
        "server_pct": 100 * d["server"] / dt,
        "loadgen_pct": 100 * loadgen / dt,
        "other_pct": max(0.0, 100 * other / dt),
        "steal_pct": 100 * d["steal"] / dt,
        "irq_pct": 100 * d["irq"] / dt,
    }


def run_wrk(
    port: int, body_file: Path, duration: int, connections: int, sid: int | None = None
) -> dict:
    argv = [
        "taskset",
        "-c",
        str(LOADGEN_CORE),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}/invocations",
        "--",
        str(body_file),
        CONTENT_TYPE,
        ACCEPT,
    ]
    cpu0 = cpu_snapshot(sid) if sid else None
    conns: dict[int, int] = {}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if sid:  # mid-run: how wrk's keep-alive connections landed on the server's processes
            time.sleep(duration / 2)
            conns = connections_per_process(port)
            for pid, ppid in session_pids(sid):  # workers without connections count as 0
                if ppid == sid and pid not in conns:
                    conns[pid] = 0
        out, err = proc.communicate(timeout=duration + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cpu = cpu_usage(cpu0, cpu_snapshot(sid)) if cpu0 else None
    m = re.search(r"^BENCH_RESULT (.*)$", out, re.M)
    if proc.returncode != 0 or not m:
        raise BenchError(f"wrk failed (rc={proc.returncode}): {err.strip()[-500:]} {out[-500:]}")
    res: dict = {}
    for kv in m.group(1).split():
        k, v = kv.split("=", 1)
        res[k] = float(v) if "." in v else int(v)
    bad = re.search(r"^BENCH_FIRST_BAD (.*)$", out, re.M)
    res["first_bad"] = bad.group(1) if bad else ""
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["p50_ms"] = res["p50_us"] / 1000
    res["p99_ms"] = res["p99_us"] / 1000
    res["socket_errors"] = (
        res["err_connect"] + res["err_read"] + res["err_write"] + res["err_timeout"]
    )
    if cpu:
        res["cpu"] = cpu
    if sid:
        res["connections_per_process"] = {str(k): v for k, v in sorted(conns.items())}
    return res


# --------------------------------------------------------------------------- measuring


def wait_first_prediction(srv: Server, body: bytes, timeout: float) -> tuple[float, int]:
    """Poll POST /invocations every 20 ms until it returns 200; seconds since launch."""
    deadline = srv.t_launch + timeout
    attempts = 0
    last = "no attempt"
    while time.monotonic() < deadline:
        attempts += 1
        if not srv.alive():
            raise BenchError(f"server exited with code {srv.proc.returncode} before serving")
        try:
            status, _, data = http_post(
                srv.port, body, timeout=max(0.05, min(5.0, deadline - time.monotonic()))
            )
            if status == 200:
                return time.monotonic() - srv.t_launch, attempts
            last = f"HTTP {status} {data[:200]!r}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.02)
    raise BenchError(
        f"no successful prediction within {timeout:.0f} s ({attempts} attempts; last: {last})"
    )


def check_responses(srv: Server, bodies: dict) -> dict:
    """One request per payload must give 200 and the right predictions as JSON."""
    seen = {}
    for name in PAYLOADS:
        status, ctype, data = http_post(srv.port, bodies[name].encode(), timeout=10)
        if status != 200:
            raise BenchError(f"{PAYLOAD_LABEL[name]}: HTTP {status}: {data[:300]!r}")
        try:
            got = json.loads(data)
        except ValueError:
            raise BenchError(f"{PAYLOAD_LABEL[name]}: body is not JSON: {data[:300]!r}") from None
        if srv.expected is not None and got != srv.expected[name]:
            raise BenchError(
                f"{PAYLOAD_LABEL[name]}: wrong predictions: {data[:300]!r}, "
                f"expected {json.dumps(srv.expected[name])[:300]}"
            )
        if srv.expected is None and got != [0]:
            raise BenchError(f"{PAYLOAD_LABEL[name]}: unexpected ceiling body {data[:300]!r}")
        seen[name] = {
            "status": status,
            "content_type": ctype,
            "body_prefix": data[:80].decode(errors="replace"),
        }
    # Informational: the same 1-row request without an Accept header.  The toolkit
    # answers application/json then; a different answer is reported, not failed.
    try:
        status, ctype, data = http_post(srv.port, bodies["1row"].encode(), timeout=10, accept=None)
        seen["no_accept"] = {
            "status": status,
            "content_type": ctype,
            "body_prefix": data[:80].decode(errors="replace"),
        }
        if srv.expected is not None and (status != 200 or not ctype.startswith("application/json")):
            log(
                f"[{srv.name}] note: without an Accept header the answer is HTTP {status} "
                f"{ctype!r} {data[:80]!r} (the toolkit answers application/json)"
            )
    except (OSError, http.client.HTTPException) as e:
        seen["no_accept"] = {"error": f"{type(e).__name__}: {e}"}
    return seen


def memory_snapshot(srv: Server) -> dict:
    procs = srv.processes()
    counted = [p for p in procs if srv.counted(p)]
    return {
        "workers": srv.workers,
        "rss_mib": sum(p["rss_kib"] for p in counted) / 1024,
        "pss_mib": sum(p["pss_kib"] for p in counted) / 1024,
        "process_count": len(counted),
        "processes": procs,
    }


def warm_up(srv: Server, files: dict, seconds: int, connections: int) -> None:
    if seconds <= 0:
        return
    for name in PAYLOADS:
        res = run_wrk(srv.port, files[name], max(1, seconds // 2), connections)
        if res["non2xx"] or res["socket_errors"]:
            raise BenchError(
                f"warm-up {PAYLOAD_LABEL[name]}: {res['non2xx']} non-2xx, "
                f"{res['socket_errors']} socket errors; first bad: {res['first_bad']}"
            )


def measure(srv: Server, args, bodies: dict, files: dict, memory_too: bool) -> dict:
    result: dict = {
        "status": "ok",
        "errors": [],
        "command": srv.argv,
        "note": srv.note,
        "workers": srv.workers,
        "port": srv.port,
    }
    log(
        f"[{srv.name}] starting ({srv.workers} workers, port {srv.port}): "
        f"{' '.join(srv.argv)[:200]}"
    )
    result["loadavg_before"] = os.getloadavg()
    result["core_speed_s"] = core_speed(SERVER_CORE)
    srv.start()
    cold, attempts = wait_first_prediction(srv, bodies["1row"].encode(), args.start_timeout)
    result["cold_start_s"] = cold
    result["cold_start_attempts"] = attempts
    log(f"[{srv.name}] first prediction after {cold:.3f} s")
    result["check"] = check_responses(srv, bodies)
    warm_up(srv, files, args.warmup, args.connections)
    result["payloads"] = {}
    for name in PAYLOADS:
        log(f"[{srv.name}] wrk {PAYLOAD_LABEL[name]} for {args.duration} s")
        res = run_wrk(srv.port, files[name], args.duration, args.connections, sid=srv.sid)
        result["payloads"][name] = res
        if res.get("cpu", {}).get("other_pct", 0) > OTHER_CPU_WARN_PCT:
            log(
                f"[{srv.name}] warning: other processes used "
                f"{res['cpu']['other_pct']:.0f}% of a core during this run; numbers are noisy"
            )
        if res["requests"] == 0:
            msg = f"{PAYLOAD_LABEL[name]}: no response at all in {args.duration} s"
            result["errors"].append(msg)
            result["status"] = "INVALID"
            log(f"[{srv.name}] !!! {msg}")
        if res["non2xx"] or res["socket_errors"]:
            msg = (
                f"{PAYLOAD_LABEL[name]}: {res['non2xx']} non-2xx responses and "
                f"{res['socket_errors']} socket errors out of {res['requests']}; "
                f"first bad: {res['first_bad']}"
            )
            result["errors"].append(msg)
            result["status"] = "INVALID"
            log(f"[{srv.name}] !!! {msg}")
    if not srv.alive():
        raise BenchError(f"server exited (code {srv.proc.returncode}) during the load runs")
    if memory_too:
        result["memory"] = memory_snapshot(srv)
    return result


def run_server(make, name: str, args, bodies, files, cleanup: list) -> dict:
    srv = make(args.workers)
    cleanup.append(srv)
    try:
        try:
            result = measure(srv, args, bodies, files, memory_too=(args.workers == MEMORY_WORKERS))
        except BenchError as e:
            log(
                f"[{name}] !!! FAILED: {e}\n--- last lines of {srv.log_path} ---\n"
                f"{tail(srv.log_path)}\n---"
            )
            return {
                "status": "FAILED",
                "errors": [str(e)],
                "command": srv.argv,
                "note": srv.note,
                "workers": srv.workers,
                "log_tail": tail(srv.log_path),
            }
        finally:
            srv.stop()
        if srv.leftovers:
            result["errors"].append(f"processes left behind: {srv.leftovers}")
            result["status"] = "INVALID"
        if result["status"] != "ok":
            result["log_tail"] = tail(srv.log_path)
            log(f"--- last lines of {srv.log_path} ---\n{result['log_tail']}\n---")
        if args.workers != MEMORY_WORKERS and result["status"] == "ok":
            # memory is always compared at 2 workers: separate start for it
            msrv = make(MEMORY_WORKERS)
            cleanup.append(msrv)
            log(f"[{name}] separate start with {MEMORY_WORKERS} workers for the memory measurement")
            try:
                msrv.start()
                wait_first_prediction(msrv, bodies["1row"].encode(), args.start_timeout)
                check_responses(msrv, bodies)
                warm_up(msrv, files, max(2, args.warmup), args.connections)
                result["memory"] = memory_snapshot(msrv)
            except BenchError as e:
                result["errors"].append(f"memory run: {e}")
                result["status"] = "INVALID"
                log(f"[{name}] !!! memory run FAILED: {e}\n{tail(msrv.log_path)}")
            finally:
                msrv.stop()
        return result
    finally:
        if srv in cleanup:
            cleanup.remove(srv)


# --------------------------------------------------------------------------- factories


def base_env(root: Path, port: int, workers: int) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAGEMAKER_", "BYOC_"))
        and k not in ("PYTHONPATH", "GUNICORN_CMD_ARGS")
    }
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(root),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            "PYTHONUNBUFFERED": "1",
            # Console scripts (byoc, multi-model-server) of this interpreter come first, so a
            # pyenv/virtualenv shim does not sit in front of them (as it would not in a container).
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    return env


def byoc_command() -> tuple[list[str], str | None, str]:
    """argv, extra PYTHONPATH, note."""
    exe = shutil.which("byoc", path=str(Path(sys.executable).parent))
    if exe and importlib.util.find_spec("byoc") is not None:
        return [exe, "serve"], None, "console script `byoc serve`"
    if importlib.util.find_spec("byoc") is not None:
        return [sys.executable, "-m", "byoc", "serve"], None, "`python -m byoc serve`"
    src = REPO_DIR / "src"
    if (src / "byoc").is_dir():
        return (
            [sys.executable, "-m", "byoc", "serve"],
            str(src),
            f"`python -m byoc serve` with PYTHONPATH={src} (byoc is not pip-installed)",
        )
    raise BenchError("byoc is neither installed nor present in src/")


def make_factories(root: Path, expected: dict) -> dict:
    def byoc(workers: int, name: str = "byoc", extra: dict | None = None) -> Server:
        argv, pypath, note = byoc_command()
        port = free_port()
        env = base_env(root, port, workers)
        if pypath:
            env["PYTHONPATH"] = pypath
        if extra:
            env.update(extra)
            note += " with " + " ".join(f"{k}={v}" for k, v in extra.items())
        return Server(name, argv, env, root / f"run-{name}", port, workers, expected, note)

    def byoc_batch(workers: int) -> Server:
        return byoc(workers, "byoc-batch", BATCH_ENV)

    def peer(workers: int) -> Server:
        port = free_port()
        env = base_env(root, port, workers)
        pkg = root / "peer-pkg"
        pkg.mkdir(exist_ok=True)
        shutil.copy(BENCH_DIR / "peer_handler_service.py", pkg / "peer_handler_service.py")
        env["PYTHONPATH"] = str(pkg)
        argv = [
            sys.executable,
            "-c",
            "from sagemaker_inference import model_server; "
            "model_server.start_model_server(handler_service='peer_handler_service')",
        ]
        return MMSPeer(
            "peer",
            argv,
            env,
            root / "run-peer",
            port,
            workers,
            expected,
            "sagemaker_inference.model_server.start_model_server on multi-model-server",
        )

    def ceiling(workers: int) -> Server:
        port = free_port()
        env = base_env(root, port, workers)
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--threads",
            "8",  # byoc's default (byoc.settings.DEFAULT_THREADS)
            "--workers",
            str(workers),
            "--keep-alive",
            "5",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--pythonpath",
            str(BENCH_DIR),
            "ceiling_app:app",
        ]
        return Server(
            "ceiling",
            argv,
            env,
            root / "run-ceiling",
            port,
            workers,
            None,
            "bare Flask, constant JSON body, gunicorn gthread x8 threads",
        )

    return {"byoc": byoc, "byoc-batch": byoc_batch, "peer": peer, "ceiling": ceiling}


# --------------------------------------------------------------------------- report


def get(results: dict, server: str, *path):
    node = results.get(server)
    if not node or node.get("status") != "ok":
        return None
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def status_of(results: dict, *servers):
    missing = [s for s in servers if s not in results]
    if missing:
        return "SKIP", f"{'/'.join(missing)} not run"
    bad = [s for s in servers if results[s].get("status") != "ok"]
    if bad:
        return "FAIL", f"{'/'.join(bad)} {results[bad[0]].get('status')}"
    return None, ""


def evaluate_targets(results: dict) -> list[dict]:
    return [
        evaluate_target(results, subject, key, desc, need)
        for subject in SUBJECTS
        for key, desc, need in TARGETS
    ]


def evaluate_target(results, subject, key, desc, need) -> dict:
    desc = desc.replace("byoc", subject, 1)
    servers = {"cold_start": (subject,), "rps_1row_vs_ceiling": (subject, "ceiling")}.get(
        key, (subject, "peer")
    )
    verdict, why = status_of(results, *servers)
    value = None
    if verdict is None:
        if key.startswith("rps_") and key.endswith("_vs_peer"):
            pl = key[len("rps_") : -len("_vs_peer")]
            value = ratio(
                get(results, subject, "payloads", pl, "rps"),
                get(results, "peer", "payloads", pl, "rps"),
            )
            ok = value is not None and value >= 3.0
        elif key.startswith("p99_"):
            pl = key[len("p99_") : -len("_vs_peer")]
            value = ratio(
                get(results, subject, "payloads", pl, "p99_ms"),
                get(results, "peer", "payloads", pl, "p99_ms"),
            )
            ok = value is not None and value <= 1 / 3
        elif key == "cold_start":
            value = get(results, subject, "cold_start_s")
            ok = value is not None and value <= 1.3
        elif key == "pss_vs_peer":
            value = ratio(
                get(results, subject, "memory", "pss_mib"),
                get(results, "peer", "memory", "pss_mib"),
            )
            ok = value is not None and value <= 0.5
        else:  # rps_1row_vs_ceiling
            value = ratio(
                get(results, subject, "payloads", "1row", "rps"),
                get(results, "ceiling", "payloads", "1row", "rps"),
            )
            ok = value is not None and value >= 0.85
        verdict = "PASS" if ok else "FAIL"
        if value is None:
            why = "no value"
    return {
        "key": key,
        "subject": subject,
        "target": desc,
        "need": need,
        "value": value,
        "result": verdict,
        "why": why,
    }


def fmt(v, spec: str, unit: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{unit}"


def print_report(results: dict, targets: list[dict], args) -> None:
    p = print
    p("")
    p(
        f"byoc benchmark: server on core {SERVER_CORE}, wrk on core {LOADGEN_CORE} "
        f"(1 thread, {args.connections} connections, {args.duration} s per payload), "
        f"{args.workers} workers, POST /invocations Content-Type {CONTENT_TYPE}, Accept {ACCEPT}"
    )
    p("")
    hdr = (
        f"{'server':<10} {'cold start':>10} {'payload':<9} {'req/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'requests':>9} {'non-2xx':>8} {'sock err':>8} {'srv CPU':>7} "
        f"{'other':>6} {'conns':>6} {'RSS MiB':>8} {'PSS MiB':>8}"
    )
    p(hdr)
    p("-" * len(hdr))
    for name in ALL_SERVERS:
        if name not in results:
            continue
        r = results[name]
        if r["status"] == "FAILED":
            p(f"{name:<10} FAILED: {r['errors'][0][:150]}")
            continue
        mem = r.get("memory") or {}
        for i, pl in enumerate(PAYLOADS):
            w = (r.get("payloads") or {}).get(pl)
            left = (
                f"{name:<10} {fmt(r.get('cold_start_s'), '.3f', ' s'):>10}" if i == 0 else " " * 21
            )
            memcols = (
                f"{fmt(mem.get('rss_mib'), '.1f'):>8} {fmt(mem.get('pss_mib'), '.1f'):>8}"
                if i == 0
                else ""
            )
            if w is None:
                p(f"{left} {PAYLOAD_LABEL[pl]:<9} (not measured)")
                continue
            cpu = w.get("cpu") or {}
            conns = "/".join(str(c) for c in (w.get("connections_per_process") or {}).values())
            srv_cpu = fmt(cpu.get("server_pct"), ".0f", "%")
            other_cpu = fmt(cpu.get("other_pct"), ".0f", "%")
            p(
                f"{left} {PAYLOAD_LABEL[pl]:<9} {w['rps']:>9.1f} {w['p50_ms']:>8.2f} "
                f"{w['p99_ms']:>8.2f} {w['requests']:>9d} {w['non2xx']:>8d} "
                f"{w['socket_errors']:>8d} {srv_cpu:>7} {other_cpu:>6} {conns or '-':>6} {memcols}"
            )
        if r["status"] != "ok":
            p(f"{'':<10} !!! {r['status']}: " + "; ".join(r["errors"])[:300])
    p("")
    p(
        "srv CPU: CPU used by the server's processes during the wrk run, in % of one core "
        "(it has one: core 0). other: CPU used by processes that are neither the server nor "
        f"wrk/run.py -- noise; above {OTHER_CPU_WARN_PCT:.0f}% that row is disturbed."
    )
    p(
        "conns: wrk's keep-alive connections per server process, sampled mid-run. gunicorn hands "
        "each connection to one worker for its lifetime, so 8/0 vs 4/4 is luck of the draw and "
        "moves gunicorn throughput run to run."
    )
    speeds = [
        f"{n} {r['core_speed_s'] * 1000:.0f} ms"
        for n, r in results.items()
        if r.get("core_speed_s")
    ]
    if speeds:
        p(
            "core 0 speed before each server (fixed Python loop, lower = faster, should be equal): "
            + ", ".join(speeds)
        )
    noisy = [
        f"{n}/{PAYLOAD_LABEL[pl]} {w['cpu']['other_pct']:.0f}%"
        for n, r in results.items()
        for pl, w in (r.get("payloads") or {}).items()
        if w.get("cpu", {}).get("other_pct", 0) > OTHER_CPU_WARN_PCT
    ]
    if noisy:
        p("WARNING: other processes were busy during: " + ", ".join(noisy))
    p(
        f"Memory: RSS and PSS summed over every process of the server's session (master/launcher + "
        f"workers; for the peer also the Java frontend), read from /proc/<pid>/smaps_rollup "
        f"after the load runs, with {MEMORY_WORKERS} workers"
        + (
            " (same start as the throughput runs)."
            if args.workers == MEMORY_WORKERS
            else f" (separate start, because throughput ran with {args.workers} workers)."
        )
    )
    for name in ALL_SERVERS:
        mem = (results.get(name) or {}).get("memory")
        if not mem:
            continue
        parts = []
        for proc in mem["processes"]:
            parts.append(
                f"{proc['role']} {proc['pss_kib'] / 1024:.1f}/{proc['rss_kib'] / 1024:.1f}"
                + (
                    ""
                    if proc["cpus_allowed"] == str(SERVER_CORE)
                    else f" [cpus {proc['cpus_allowed']}!]"
                )
            )
        p(f"  {name:<10} PSS/RSS MiB per process: " + ", ".join(parts))
    p("")
    p(f"{'target':<44} {'value':>10} {'need':>10}  result")
    p("-" * 74)
    for t in targets:
        v = t["value"]
        if v is None:
            vs = "-"
        elif t["key"] == "cold_start":
            vs = f"{v:.3f} s"
        elif t["key"].startswith("p99_"):
            vs = f"{v:.3f}"
        else:
            vs = f"{v:.2f}x"
        p(
            f"{t['target']:<44} {vs:>10} {t['need']:>10}  {t['result']}"
            + (f" ({t['why']})" if t["why"] else "")
        )
    p("")


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        default=",".join(ALL_SERVERS),
        help="comma-separated subset of byoc,byoc-batch,peer,ceiling (default: all)",
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
