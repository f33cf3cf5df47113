"""Serving faults under load (a bounded concurrent request loop, one connection per
request): a worker SIGKILLed, the master SIGTERMed. What may fail, and what may not."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from .conftest import write_handler
from .load import Load, Result, alive, children, client_connections, group_members
from .server import ServerProcess

pytestmark = pytest.mark.process

THREADS = 4
SLOW_PID_MODEL = """
import os, time

def model_fn(model_dir):
    return lambda x: time.sleep({delay}) or [os.getpid()]
"""


def start(ml_root: Path, delay: float = 0.1) -> ServerProcess:
    write_handler(ml_root, SLOW_PID_MODEL.format(delay=delay))
    server = ServerProcess(
        ml_root,
        env={
            "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
            "BYOC_THREADS": str(THREADS),
            "BYOC_HANDLER_CONCURRENCY": str(THREADS),
        },
    )
    server.wait_healthy()
    return server


def workers_of(server: ServerProcess, count: int = 2, seconds: float = 30) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = children(server.process.pid)
        if len(found) == count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} workers, found {children(server.process.pid)}")


def summary(results: list[Result]) -> str:
    failed = [r for r in results if r.outcome == "failed"]
    return f"{len(results)} requests, {len(failed)} failed: {[r.detail for r in failed][:5]}"


def test_a_killed_worker_fails_only_its_own_requests_and_is_replaced(ml_root: Path) -> None:
    with start(ml_root) as server:
        victim, survivor = sorted(workers_of(server))
        with Load(server.port, clients=2 * THREADS) as load:
            time.sleep(1.5)
            os.kill(victim, signal.SIGSTOP)  # frozen: what it holds is what it had in flight
            in_flight = client_connections(victim, server.port)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 30
            replacement = None
            while time.monotonic() < deadline:
                replacement = next(iter(children(server.process.pid) - {survivor}), None)
                served = {r.pid for r in load.snapshot() if r.ended > killed_at}
                if replacement is not None and replacement in served:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
        results = load.results
        assert replacement is not None and replacement != victim
        assert replacement in {r.pid for r in results}, "the new worker never served"
        assert requests.get(server.url + "/ping", timeout=2).status_code == 200

        failed = [r for r in results if r.outcome != "ok"]
        print(
            f"\nworker {victim} held {in_flight} connection(s) when killed; "
            f"{summary(results)}; replaced by {replacement}"
        )
        assert in_flight >= 1, "the victim had nothing in flight: the test proves nothing"
        assert len(failed) <= in_flight, summary(results)
        assert all(r.started < killed_at for r in failed), "a request sent after the kill failed"
        assert {r.pid for r in results if r.ended > killed_at} >= {survivor, replacement}
        assert not any(r.pid == victim and r.started > killed_at for r in results)
        assert sum(r.outcome == "ok" and r.pid == survivor for r in results) > 10


def test_sigterm_answers_every_accepted_request_and_leaves_no_process(ml_root: Path) -> None:
    """Under load, SIGTERM: every request sent before it is answered, a client may be
    refused once the listener is gone (counted apart, not a failure), the tree exits in
    < 30 s, and nothing of it is left.

    A connect that races the last worker closing its listener can still be reset (the
    kernel queued it an instant before the close; about one run in seven here): such a
    reset must come at that instant, not later — a connection left queued through the
    graceful period is the next test's failure.
    """
    server = start(ml_root, delay=0.5)
    try:
        master = server.process.pid
        workers = workers_of(server)
        with Load(server.port, clients=2 * THREADS) as load:
            time.sleep(2)
            stopped_at = time.monotonic()
            server.terminate()
            code = server.process.wait(30)
            exited_in = time.monotonic() - stopped_at
            time.sleep(0.3)  # the clients see the listener gone
        results = load.results
        before = [r for r in results if r.started < stopped_at]
        answered = [r for r in before if r.outcome == "ok" and r.ended > stopped_at]
        refused = [r for r in results if r.outcome == "refused"]
        raced = [r for r in results if r.outcome == "failed" and r.started >= stopped_at]
        print(
            f"\nexit {code} in {exited_in:.2f} s; {len(results)} requests; in flight at "
            f"SIGTERM and answered: {len(answered)}; refused: {len(refused)}; reset while "
            f"the listener closed: {len(raced)}"
        )
        assert code == 0 and exited_in < 30
        assert all(r.outcome == "ok" for r in before), summary(before)
        assert answered, "nothing was in flight at SIGTERM: the test proves nothing"
        assert refused, "nothing was sent after the listener closed: the test proves nothing"
        closed_at = min(r.started for r in refused)
        assert all(r.ended < closed_at + 0.05 for r in raced), summary(raced)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            group_members(master) or any(alive(pid) for pid in workers)
        ):
            time.sleep(0.05)
        assert not group_members(master), "processes of the server's group outlived it"
        assert not any(alive(pid) for pid in workers), "a worker outlived the master"
    finally:
        server.stop()


def test_a_connection_accepted_after_sigterm_is_answered_or_refused_never_reset(
    ml_root: Path,
) -> None:
    """While a long request finishes, a stopping worker no longer holds the listening
    socket (gunicorn's gthread kept it through the graceful period: the kernel completed
    new connections into a backlog nobody accepted from, and reset them at exit)."""
    server = start(ml_root, delay=3)
    try:
        load = Load(server.port, clients=1)
        long = threading.Thread(target=lambda: load.results.append(load.one()))
        long.start()
        time.sleep(0.5)
        server.terminate()
        time.sleep(0.5)
        late = load.one()  # sent while the long one is still being predicted
        long.join(30)
        assert load.results and load.results[0].outcome == "ok", load.results
        assert late.outcome in ("ok", "refused"), late
    finally:
        server.stop()
