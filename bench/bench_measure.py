"""One server's measurement: the model and payloads, cold start, answer checks, warm-up,
the wrk runs and memory."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
from pathlib import Path

from bench_config import (
    ACCEPT,
    BENCH_DIR,
    CONTENT_TYPE,
    MEMORY_WORKERS,
    ONE_ROW,
    PAYLOAD_LABEL,
    PAYLOADS,
    SERVER_CORE,
    BenchError,
    log,
)
from bench_load import OTHER_CPU_WARN_PCT, core_speed, run_wrk
from bench_procs import tail
from bench_servers import Server


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
        batches0 = srv.batch_counter()
        res = run_wrk(srv.port, files[name], args.duration, args.connections, srv=srv)
        batches1 = srv.batch_counter()
        if batches0 is not None and batches1 is not None and batches1[1] > batches0[1]:
            res["mean_batch_requests"] = (batches1[0] - batches0[0]) / (batches1[1] - batches0[1])
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
            if msrv.leftovers:
                result["errors"].append(f"memory run: processes left behind: {msrv.leftovers}")
                result["status"] = "INVALID"
        return result
    finally:
        if srv in cleanup:
            cleanup.remove(srv)
