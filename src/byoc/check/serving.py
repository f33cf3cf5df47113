"""The serving rules measured on one endpoint container, as SageMaker runs it.

One container answers every rule here, in an order that keeps measurements apart: the
start-up (accept time, /ping latency, healthy, /ping before load), the sample prediction,
the four refusals, the slow clients and last SIGTERM. A rule that kills the container
(a crash on a garbage body) fails alone: the next rule gets a fresh container.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from ..local import DockerError
from . import pressure, refusals
from . import startup as rules_of_startup
from .container import Container, RunSpec
from .health import Startup, alive, wait_healthy
from .options import CheckOptions
from .rules import Outcome, Status, outcome

__all__ = ["SERVING_RULES", "check_serving"]

SERVING_RULES = [
    "tcp-accept",
    "ping-latency",
    "healthy",
    "ping-before-load",
    "prediction",
    "unsupported-content-type",
    "unsupported-accept",
    "garbage-body",
    "oversize-body",
    "slow-clients",
    "sigterm",
]


class _Endpoint:
    """The container the rules share; replaced when a rule left it dead."""

    def __init__(self, options: CheckOptions) -> None:
        self.options = options
        self.container: Container | None = None

    def start(self) -> tuple[Container, Startup]:
        self.close()
        spec = RunSpec(self.options.model, env=self.options.env, label="serve")
        self.container = Container.start(self.options.image, spec)
        startup = wait_healthy(self.container, self.options.startup_timeout, self.options.sample)
        return self.container, startup

    def healthy(self) -> Container | None:
        """The current container if it still answers, else a fresh healthy one (or None)."""
        if self.container is not None and not alive(self.container):
            return self.container
        self.options.say("the container stopped answering: starting a fresh one")
        container, startup = self.start()
        return container if startup.healthy else None

    def close(self) -> None:
        if self.container is not None:
            self.container.remove()
            self.container = None


def check_serving(options: CheckOptions, wanted: set[str]) -> list[Outcome]:
    wanted = wanted & set(SERVING_RULES)
    if not wanted:
        return []
    outcomes: dict[str, Outcome] = {}
    endpoint = _Endpoint(options)
    try:
        options.say("starting the endpoint container and waiting for /ping 200")
        started = time.monotonic()
        _, startup = endpoint.start()
        outcomes["healthy"] = rules_of_startup.healthy(startup, options, time.monotonic() - started)
        outcomes["ping-before-load"] = rules_of_startup.before_load(startup)
        if not startup.healthy:
            return _ordered(outcomes, wanted, "not checked: the container never became healthy")
        steps: list[tuple[str, Callable[[Container], Outcome]]] = [
            ("tcp-accept", lambda c: rules_of_startup.tcp_accept(c, startup)),
            (
                "ping-latency",
                lambda c: rules_of_startup.ping_latency(startup, rules_of_startup.more_pings(c)),
            ),
            ("prediction", lambda c: rules_of_startup.prediction(c, options.sample)),
            ("unsupported-content-type", lambda c: refusals.refusal(c, options.sample, "415")),
            ("unsupported-accept", lambda c: refusals.refusal(c, options.sample, "406")),
            ("garbage-body", lambda c: refusals.refusal(c, options.sample, "4xx")),
            ("oversize-body", lambda c: refusals.oversize(c, options)),
            ("slow-clients", pressure.slow_clients),
            ("sigterm", lambda c: pressure.sigterm(c, options)),
        ]
        for rule_id, step in steps:
            if rule_id not in wanted:
                continue
            options.say(f"checking {rule_id}")
            current = endpoint.healthy()
            if current is None:
                outcomes[rule_id] = outcome(
                    rule_id, Status.NA, "-", "not checked: no healthy container"
                )
                continue
            began = time.monotonic()
            try:
                measured = step(current)
            except (OSError, DockerError) as exc:
                measured = outcome(rule_id, Status.FAIL, "error", str(exc))
            outcomes[rule_id] = replace(measured, seconds=time.monotonic() - began)
        return _ordered(outcomes, wanted, "")
    finally:
        endpoint.close()


def _ordered(outcomes: dict[str, Outcome], wanted: set[str], missing: str) -> list[Outcome]:
    result = []
    for rule_id in SERVING_RULES:
        if rule_id not in wanted:
            continue
        result.append(outcomes.get(rule_id) or outcome(rule_id, Status.NA, "-", missing))
    return result
