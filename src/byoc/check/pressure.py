"""The container under pressure: 64 slow clients while /ping is probed, and SIGTERM with a
request in flight (its head and half its body sent, the rest after the signal).
"""

from __future__ import annotations

import threading

from .container import Container
from .health import PING_TIMEOUT, alive, ping
from .options import CheckOptions
from .probe import open_slow_clients, request
from .rules import Outcome, Status, milliseconds, outcome

__all__ = ["SLOW_CLIENTS", "sigterm", "slow_clients"]

SLOW_CLIENTS = 64


def slow_clients(container: Container) -> Outcome:
    clients = []
    try:
        clients = open_slow_clients(container.target, SLOW_CLIENTS)
        times: list[float] = []
        statuses: list[str] = []
        for _ in range(3):
            try:
                answer = ping(container.target)
                times.append(answer.seconds)
                statuses.append(str(answer.status))
            except TimeoutError:
                times.append(PING_TIMEOUT)
                statuses.append("timeout")
    finally:
        for sock in clients:
            sock.close()
    recovered = alive(container, patience=10)
    ok = all(status == "200" for status in statuses) and max(times) < PING_TIMEOUT
    detail = (
        f"{SLOW_CLIENTS} connections each sent part of a request head and then nothing; "
        f"3 pings meanwhile: {', '.join(statuses)}"
    )
    if recovered:
        detail += f"; after closing them: {recovered}"
    status = Status.PASS if ok and not recovered else Status.FAIL
    return outcome("slow-clients", status, f"ping max {milliseconds(max(times))}", detail)


def sigterm(container: Container, options: CheckOptions) -> Outcome:
    grace = options.stop_grace
    stopped: dict[str, float | int | None] = {}

    def stop() -> None:
        seconds, code = container.stop(grace)
        stopped["seconds"], stopped["code"] = seconds, code

    stopper = threading.Thread(target=stop, daemon=True)
    how = (
        "the sample's head and first half were sent, then SIGTERM (docker stop -t "
        f"{grace}), then the second half 1 s later"
    )
    try:
        answer = request(
            container.target,
            "POST",
            "/invocations",
            options.sample.body,
            options.sample.headers(),
            grace + 10,
            pause=(1.0, stopper.start),
        )
        answered = f"in-flight request answered {answer.status}"
        finished = 200 <= answer.status < 300
    except OSError as exc:
        answered, finished = f"in-flight request got no answer ({exc.strerror or exc})", False
    if stopper.ident is None:  # the request failed before the pause
        stopper.start()
    stopper.join(grace + 70)
    seconds, code = stopped.get("seconds"), stopped.get("code")
    killed = code == 137 or (isinstance(seconds, float) and seconds >= grace)
    value = f"exit {code} after {seconds:.1f} s" if isinstance(seconds, float) else "no exit"
    ok = finished and not killed
    detail = f"{answered}; {how}"
    if killed:
        detail = f"still running after {grace} s: SIGKILLed (exit {code}); {detail}"
    return outcome("sigterm", Status.PASS if ok else Status.FAIL, value, detail)
