"""Start-up as SageMaker watches it: /ping polled until 200, each probe timed.

:func:`wait_healthy` records what several rules need from the same start-up: when the
port first answered, the slowest probe, whether /ping said anything but 200 first, and
what the sample prediction answered right after the first 200 (a 5xx there means /ping
said healthy before the model could predict).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .container import Container
from .options import Sample
from .probe import Answer, Target, request

__all__ = ["PING_TIMEOUT", "Startup", "alive", "ping", "predict", "wait_healthy"]

PING_TIMEOUT = 2.0


@dataclass
class Startup:
    healthy_after: float | None = None  # seconds from `docker run` returning
    listening_after: float | None = None
    slowest_ping: float = 0.0
    slow_pings: int = 0  # probes over 2 s, timed out included
    probes: int = 0
    not_ready: int = 0  # answers other than 200 before the first 200
    not_ready_statuses: set[int] = field(default_factory=set)
    after_ready: list[int] = field(default_factory=list)  # sample statuses after the first 200
    failure: str = ""

    @property
    def healthy(self) -> bool:
        return self.healthy_after is not None


def ping(target: Target, timeout: float = PING_TIMEOUT) -> Answer:
    return request(target, "GET", "/ping", timeout=timeout)


def predict(target: Target, sample: Sample, timeout: float = 60.0) -> Answer:
    return request(target, "POST", "/invocations", sample.body, sample.headers(), timeout)


def wait_healthy(
    container: Container,
    timeout: float,
    sample: Sample | None = None,
    target: Target | None = None,
    give_up: Callable[[], str | None] | None = None,
) -> Startup:
    """Poll /ping until 200, the container exits, ``timeout`` passes or ``give_up`` says why.

    With ``sample``, three predictions are sent right after the first 200.
    """
    target = target or container.target
    startup = Startup()
    deadline = container.started + timeout
    last = "nothing answered"
    checked = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now - checked >= 1.0:
            checked = now
            if not container.running():
                startup.failure = (
                    f"the container exited with code {container.exit_code()} before /ping "
                    f"said 200 (last log line: {container.last_log_line()})"
                )
                return startup
            why = give_up() if give_up else None
            if why:
                startup.failure = why
                return startup
        try:
            answer = ping(target)
        except TimeoutError:
            startup.probes += 1
            startup.slow_pings += 1
            startup.slowest_ping = max(startup.slowest_ping, PING_TIMEOUT)
            startup.listening_after = (
                startup.listening_after or time.monotonic() - container.started
            )
            last = f"/ping gave no answer within {PING_TIMEOUT:g} s"
            continue
        except OSError as exc:
            last = f"/ping: {exc.strerror or exc}"
            time.sleep(0.1)
            continue
        startup.probes += 1
        startup.listening_after = startup.listening_after or time.monotonic() - container.started
        startup.slowest_ping = max(startup.slowest_ping, answer.seconds)
        if answer.seconds > PING_TIMEOUT:
            startup.slow_pings += 1
        if answer.status == 200:
            startup.healthy_after = time.monotonic() - container.started
            if sample is not None:
                startup.after_ready = [_status(target, sample) for _ in range(3)]
            return startup
        startup.not_ready += 1
        startup.not_ready_statuses.add(answer.status)
        last = f"/ping answered {answer.status}"
        time.sleep(0.1)
    startup.failure = f"not healthy within {timeout:g} s (last: {last})"
    return startup


def _status(target: Target, sample: Sample) -> int:
    try:
        return predict(target, sample).status
    except OSError:
        return 0


def alive(container: Container, target: Target | None = None, patience: float = 3.0) -> str:
    """``""`` when /ping says 200 within 2 s and the container runs, else what is wrong."""
    target = target or container.target
    deadline = time.monotonic() + patience
    last = ""
    while True:
        try:
            answer = ping(target)
            if answer.status == 200:
                return ""
            last = f"/ping answered {answer.status} afterwards"
        except OSError as exc:
            last = f"/ping failed afterwards ({exc.strerror or exc})"
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    if not container.running():
        return (
            f"the container exited with code {container.exit_code()} "
            f"(last log line: {container.last_log_line()})"
        )
    return last
