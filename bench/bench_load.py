"""Load generation: wrk on LOADGEN_CORE, and the CPU accounting around it."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_config import ACCEPT, CONTENT_TYPE, LOADGEN_CORE, LUA_SCRIPT, BenchError
from bench_servers import Server

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


def cpu_snapshot(pids: list[tuple[int, int]]) -> dict:
    """CPU seconds so far: whole machine (user+nice+system, steal), the server's processes
    (``pids``), this script, and its reaped children (wrk)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (vals + [0] * 8)[:8]
    server = 0
    for pid, _ in pids:
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
    port: int,
    body_file: Path,
    duration: int,
    connections: int,
    srv: Server | None = None,
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
    cpu0 = cpu_snapshot(srv.pids()) if srv else None
    conns: dict[int, int] = {}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if srv:  # mid-run: how wrk's keep-alive connections landed on the server's processes
            time.sleep(duration / 2)
            conns = connections_per_process(port)
            for pid, ppid in srv.pids():  # workers without connections count as 0
                if ppid == srv.sid and pid not in conns:
                    conns[pid] = 0
        out, err = proc.communicate(timeout=duration + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    cpu = cpu_usage(cpu0, cpu_snapshot(srv.pids())) if srv and cpu0 else None
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
    if srv:
        res["connections_per_process"] = {str(k): v for k, v in sorted(conns.items())}
    return res
