"""Rules read from a start-up (see :mod:`byoc.check.health`) and the first requests after
it: healthy, ``/ping`` before load, TCP accept time, ``/ping`` latency, the prediction.
"""

from __future__ import annotations

import time

from .container import Container
from .health import PING_TIMEOUT, Startup, ping, predict
from .options import CheckOptions, Sample
from .probe import connect_seconds
from .rules import RULES, Outcome, Status, milliseconds, outcome

__all__ = ["before_load", "healthy", "more_pings", "ping_latency", "prediction", "tcp_accept"]

ACCEPT_LIMIT = 0.250
CONNECTS = 20
NOT_READY_RETRY = 10.0
HEALTHY_PINGS = 8


def healthy(startup: Startup, options: CheckOptions, seconds: float) -> Outcome:
    if startup.healthy_after is None:
        return Outcome(RULES["healthy"], Status.FAIL, "not healthy", startup.failure, seconds)
    return Outcome(
        RULES["healthy"],
        Status.PASS,
        f"{startup.healthy_after:.1f} s",
        f"start-up timeout {options.startup_timeout:g} s; {startup.not_ready} not-ready "
        f"answers first ({', '.join(map(str, sorted(startup.not_ready_statuses))) or 'none'})",
        seconds,
    )


def before_load(startup: Startup) -> Outcome:
    rule = RULES["ping-before-load"]
    if not startup.healthy:
        return Outcome(rule, Status.NA, "-", "not checked: never healthy")
    after = ", ".join(map(str, startup.after_ready))
    failed = [status for status in startup.after_ready if status >= 500 or status == 0]
    if failed:
        return Outcome(
            rule,
            Status.FAIL,
            f"sample after first 200: {after}",
            "/ping said 200 but the sample prediction sent right after it failed: "
            "a health check that passes before the model is loaded",
        )
    if startup.not_ready == 0:
        return Outcome(
            rule,
            Status.NA,
            f"sample after first 200: {after}",
            "the first /ping answer was already 200 (loading looked instant), so there was "
            "no loading phase to observe",
        )
    return Outcome(
        rule,
        Status.PASS,
        f"{startup.not_ready} not-ready, then 200; sample: {after}",
        "not 200 while loading; the three predictions sent right after the first 200 worked",
    )


def tcp_accept(container: Container, startup: Startup) -> Outcome:
    times = [connect_seconds(container.target) for _ in range(CONNECTS)]
    worst = max(times)
    listening = (
        f"; first answered {startup.listening_after:.2f} s after the container started"
        if startup.listening_after is not None
        else ""
    )
    status = Status.PASS if worst <= ACCEPT_LIMIT else Status.FAIL
    return outcome(
        "tcp-accept",
        status,
        f"max {milliseconds(worst)}",
        f"slowest of {CONNECTS} handshakes to {container.target} (limit 250 ms){listening}",
    )


def more_pings(container: Container) -> list[float]:
    times = []
    for _ in range(HEALTHY_PINGS):
        try:
            times.append(ping(container.target).seconds)
        except TimeoutError:
            times.append(PING_TIMEOUT + 0.001)
    return times


def ping_latency(startup: Startup, later: list[float]) -> Outcome:
    """Once healthy, every probe must answer within 2 s (SageMaker takes the instance out
    of service otherwise). A slow probe during start-up only means "not ready yet" there,
    so it is reported, not failed."""
    during = (
        f"; slowest of {startup.probes} start-up probes {milliseconds(startup.slowest_ping)}"
        f" ({startup.slow_pings} over 2 s: not ready yet, as SageMaker counts them)"
        if startup.probes
        else ""
    )
    slow = sum(1 for seconds in later if seconds > PING_TIMEOUT)
    status = Status.PASS if slow == 0 else Status.FAIL
    return outcome(
        "ping-latency",
        status,
        f"max {milliseconds(max(later))}",
        f"{len(later)} probes once healthy, {slow} over 2 s or unanswered{during}",
    )


def prediction(container: Container, sample: Sample) -> Outcome:
    """The sample must succeed; a 503 is retried for 10 s (answering 503 right after /ping
    said 200 is ``ping-before-load``'s failure, not this rule's)."""
    began = time.monotonic()
    answer = predict(container.target, sample)
    while answer.status == 503 and time.monotonic() - began < NOT_READY_RETRY:
        time.sleep(0.25)
        answer = predict(container.target, sample)
    text = answer.body[:80].decode(errors="replace").strip().replace("\n", " | ")
    ok = 200 <= answer.status < 300 and bool(answer.body)
    waited = time.monotonic() - began - answer.seconds
    retried = f" (after {waited:.1f} s of 503)" if waited > 0.2 else ""
    return outcome(
        "prediction",
        Status.PASS if ok else Status.FAIL,
        f"{answer.status} in {milliseconds(answer.seconds)}",
        f"{sample.content_type}, {len(sample.body)} bytes -> {text or '(empty body)'}{retried}",
    )
