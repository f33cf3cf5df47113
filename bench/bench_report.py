"""Targets and the printed report."""

from __future__ import annotations

from dataclasses import dataclass

from bench_config import (
    ACCEPT,
    ALL_SERVERS,
    CONTENT_TYPE,
    LOADGEN_CORE,
    MEMORY_WORKERS,
    PAYLOAD_LABEL,
    PAYLOADS,
    SERVER_CORE,
    SUBJECTS,
)
from bench_load import OTHER_CPU_WARN_PCT


@dataclass(frozen=True)
class Target:
    key: str
    desc: str  # "byoc" is replaced by the subject
    need: str
    kind: str  # rps, p99 (ratios on a payload), cold_start, pss
    other: str | None  # the stack compared with
    payload: str | None
    limit: float
    at_least: bool  # value >= limit (else value <= limit)


def _rps(payload: str, other: str, limit: float) -> Target:
    return Target(
        f"rps_{payload}_vs_{other}",
        f"byoc req/s / {other} req/s ({PAYLOAD_LABEL[payload]})",
        f">= {limit:.2f}x",
        "rps",
        other,
        payload,
        limit,
        True,
    )


def _p99(payload: str) -> Target:
    return Target(
        f"p99_{payload}_vs_peer",
        f"byoc p99 / peer p99 ({PAYLOAD_LABEL[payload]})",
        "<= 0.333",
        "p99",
        "peer",
        payload,
        1 / 3,
        False,
    )


# Every target is judged for each of SUBJECTS. BentoML: >= 4x each of its two variants.
TARGETS = [
    _rps("1row", "peer", 3.0),
    _rps("100rows", "peer", 3.0),
    _rps("1row", "bentoml", 4.0),
    _rps("100rows", "bentoml", 4.0),
    _rps("1row", "bentoml-batch", 4.0),
    _rps("100rows", "bentoml-batch", 4.0),
    _p99("1row"),
    _p99("100rows"),
    Target("cold_start", "byoc cold start", "<= 1.30 s", "cold_start", None, None, 1.3, False),
    Target(
        "pss_vs_peer",
        "byoc PSS / peer PSS (2 workers)",
        "<= 0.50x",
        "pss",
        "peer",
        None,
        0.5,
        False,
    ),
    _rps("1row", "ceiling", 0.85),
]


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
    return [evaluate_target(results, subject, t) for subject in SUBJECTS for t in TARGETS]


def target_value(results: dict, subject: str, t: Target) -> float | None:
    if t.kind == "cold_start":
        return get(results, subject, "cold_start_s")
    if t.kind == "pss":
        return ratio(
            get(results, subject, "memory", "pss_mib"), get(results, t.other, "memory", "pss_mib")
        )
    field = "rps" if t.kind == "rps" else "p99_ms"
    return ratio(
        get(results, subject, "payloads", t.payload, field),
        get(results, t.other, "payloads", t.payload, field),
    )


def evaluate_target(results: dict, subject: str, t: Target) -> dict:
    desc = t.desc.replace("byoc", subject, 1)
    servers = (subject,) if t.other is None else (subject, t.other)
    verdict, why = status_of(results, *servers)
    value = None
    if verdict is None:
        value = target_value(results, subject, t)
        if value is None:
            ok, why = False, "no value"
        else:
            ok = value >= t.limit if t.at_least else value <= t.limit
        verdict = "PASS" if ok else "FAIL"
    return {
        "key": t.key,
        "subject": subject,
        "target": desc,
        "need": t.need,
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
        f"{'server':<13} {'cold start':>10} {'payload':<9} {'req/s':>9} {'p50 ms':>8} "
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
            p(f"{name:<13} FAILED: {r['errors'][0][:150]}")
            continue
        mem = r.get("memory") or {}
        for i, pl in enumerate(PAYLOADS):
            w = (r.get("payloads") or {}).get(pl)
            left = (
                f"{name:<13} {fmt(r.get('cold_start_s'), '.3f', ' s'):>10}" if i == 0 else " " * 24
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
            p(f"{'':<13} !!! {r['status']}: " + "; ".join(r["errors"])[:300])
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
    batching = [
        f"{n} {PAYLOAD_LABEL[pl]} {w['mean_batch_requests']:.1f}"
        for n, r in results.items()
        for pl, w in (r.get("payloads") or {}).items()
        if w.get("mean_batch_requests") is not None
    ]
    if batching:
        p(
            "BentoML adaptive batching, mean requests per batch during the run (its own "
            "adaptive_batch_size histogram on /metrics): " + ", ".join(batching)
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
        f"Memory: RSS and PSS summed over every process of the server's tree (master/launcher + "
        f"workers; for the peer also the Java frontend, for BentoML its circus arbiter), read "
        f"from /proc/<pid>/smaps_rollup "
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
        p(f"  {name:<13} PSS/RSS MiB per process: " + ", ".join(parts))
    p("")
    p(f"{'target':<52} {'value':>10} {'need':>10}  result")
    p("-" * 82)
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
            f"{t['target']:<52} {vs:>10} {t['need']:>10}  {t['result']}"
            + (f" ({t['why']})" if t["why"] else "")
        )
    p("")
