"""The serving rules measured on one endpoint container, as SageMaker runs it.

One container answers every rule here, in an order that keeps measurements apart: the
start-up (accept time, /ping latency, healthy, /ping before load), the sample prediction,
the four refusals, the slow clients and last SIGTERM. A rule that kills the container
(a crash on a garbage body) fails alone: the next rule gets a fresh container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..local import DockerError
from .container import Container, RunSpec
from .health import PING_TIMEOUT, Startup, alive, ping, predict, wait_healthy
from .options import CheckOptions, Sample
from .probe import connect_seconds, open_slow_clients, request
from .rules import RULES, Outcome, Status

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
UNSUPPORTED = "application/x-byoc-check-unsupported"
GARBAGE = b"\xff\xfe\x00\x01 not,a;record {[<\x00\n\x7f\x80garbage\xc3\x28"
ACCEPT_LIMIT = 0.250
SLOW_CLIENTS = 64
CONNECTS = 20
NOT_READY_RETRY = 10.0
HEALTHY_PINGS = 8


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
        outcomes["healthy"] = _healthy(startup, options, time.monotonic() - started)
        outcomes["ping-before-load"] = _before_load(startup)
        if not startup.healthy:
            return _ordered(outcomes, wanted, "not checked: the container never became healthy")
        steps: list[tuple[str, Callable[[Container], Outcome]]] = [
            ("tcp-accept", lambda c: _tcp_accept(c, startup)),
            ("ping-latency", lambda c: _ping_latency(startup, _more_pings(c))),
            ("prediction", lambda c: _prediction(c, options.sample)),
            ("unsupported-content-type", lambda c: _refusal(c, options.sample, "415")),
            ("unsupported-accept", lambda c: _refusal(c, options.sample, "406")),
            ("garbage-body", lambda c: _refusal(c, options.sample, "4xx")),
            ("oversize-body", lambda c: _oversize(c, options)),
            ("slow-clients", _slow_clients),
            ("sigterm", lambda c: _sigterm(c, options)),
        ]
        for rule_id, step in steps:
            if rule_id not in wanted:
                continue
            options.say(f"checking {rule_id}")
            current = endpoint.healthy()
            if current is None:
                outcomes[rule_id] = _outcome(
                    rule_id, Status.NA, "-", "not checked: no healthy container"
                )
                continue
            began = time.monotonic()
            try:
                outcome = step(current)
            except (OSError, DockerError) as exc:
                outcome = _outcome(rule_id, Status.FAIL, "error", str(exc))
            outcomes[rule_id] = Outcome(
                outcome.rule,
                outcome.status,
                outcome.value,
                outcome.detail,
                time.monotonic() - began,
            )
        return _ordered(outcomes, wanted, "")
    finally:
        endpoint.close()


def _ordered(outcomes: dict[str, Outcome], wanted: set[str], missing: str) -> list[Outcome]:
    result = []
    for rule_id in SERVING_RULES:
        if rule_id not in wanted:
            continue
        result.append(outcomes.get(rule_id) or _outcome(rule_id, Status.NA, "-", missing))
    return result


def _outcome(rule_id: str, status: Status, value: str, detail: str = "") -> Outcome:
    return Outcome(RULES[rule_id], status, value, detail)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _healthy(startup: Startup, options: CheckOptions, seconds: float) -> Outcome:
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


def _before_load(startup: Startup) -> Outcome:
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


def _tcp_accept(container: Container, startup: Startup) -> Outcome:
    times = [connect_seconds(container.target) for _ in range(CONNECTS)]
    worst = max(times)
    listening = (
        f"; first answered {startup.listening_after:.2f} s after the container started"
        if startup.listening_after is not None
        else ""
    )
    status = Status.PASS if worst <= ACCEPT_LIMIT else Status.FAIL
    return _outcome(
        "tcp-accept",
        status,
        f"max {_ms(worst)}",
        f"slowest of {CONNECTS} handshakes to {container.target} (limit 250 ms){listening}",
    )


def _more_pings(container: Container) -> list[float]:
    times = []
    for _ in range(HEALTHY_PINGS):
        try:
            times.append(ping(container.target).seconds)
        except TimeoutError:
            times.append(PING_TIMEOUT + 0.001)
    return times


def _ping_latency(startup: Startup, later: list[float]) -> Outcome:
    """Once healthy, every probe must answer within 2 s (SageMaker takes the instance out
    of service otherwise). A slow probe during start-up only means "not ready yet" there,
    so it is reported, not failed."""
    during = (
        f"; slowest of {startup.probes} start-up probes {_ms(startup.slowest_ping)}"
        f" ({startup.slow_pings} over 2 s: not ready yet, as SageMaker counts them)"
        if startup.probes
        else ""
    )
    slow = sum(1 for seconds in later if seconds > PING_TIMEOUT)
    status = Status.PASS if slow == 0 else Status.FAIL
    return _outcome(
        "ping-latency",
        status,
        f"max {_ms(max(later))}",
        f"{len(later)} probes once healthy, {slow} over 2 s or unanswered{during}",
    )


def _prediction(container: Container, sample: Sample) -> Outcome:
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
    return _outcome(
        "prediction",
        Status.PASS if ok else Status.FAIL,
        f"{answer.status} in {_ms(answer.seconds)}",
        f"{sample.content_type}, {len(sample.body)} bytes -> {text or '(empty body)'}{retried}",
    )


def _refusal(container: Container, sample: Sample, expected: str) -> Outcome:
    if expected == "415":
        rule_id, sent = "unsupported-content-type", f"Content-Type: {UNSUPPORTED}"
        headers, body = {"Content-Type": UNSUPPORTED}, sample.body
    elif expected == "406":
        rule_id, sent = "unsupported-accept", f"Accept: {UNSUPPORTED}"
        headers, body = {"Content-Type": sample.content_type, "Accept": UNSUPPORTED}, sample.body
    else:
        rule_id, sent = "garbage-body", f"{len(GARBAGE)} bytes of garbage as {sample.content_type}"
        headers, body = {"Content-Type": sample.content_type}, GARBAGE
    try:
        status = request(container.target, "POST", "/invocations", body, headers, 60).status
    except OSError as exc:
        status, sent = 0, f"{sent}: no answer ({exc.strerror or exc})"
    return _after_refusal(container, rule_id, status, expected, sent)


def _after_refusal(
    container: Container, rule_id: str, status: int, expected: str, sent: str
) -> Outcome:
    right = 400 <= status < 500 if expected == "4xx" else str(status) == expected
    afterwards = alive(container)
    value = f"{status or 'no answer'} (want {expected})"
    if not right:
        return _outcome(rule_id, Status.FAIL, value, f"{sent}; {afterwards or 'still serving'}")
    if afterwards:
        return _outcome(rule_id, Status.FAIL, value, f"{sent}; then {afterwards}")
    return _outcome(rule_id, Status.PASS, value, f"{sent}; /ping 200 afterwards")


def _oversize(container: Container, options: CheckOptions) -> Outcome:
    limit = options.payload_limit_mb
    if limit == 0:
        return _outcome(
            "oversize-body", Status.NA, "-", "SAGEMAKER_MAX_PAYLOAD_IN_MB=0: no limit to exceed"
        )
    size = limit * 1024 * 1024 + 1
    line = options.sample.records()[0] + b"\n" if options.sample.records() else b"0\n"
    body = (line * (size // len(line) + 1))[:size]
    sent = f"{size:,} bytes (limit {limit} MiB) of valid {options.sample.content_type}"
    headers = {"Content-Type": options.sample.content_type}
    try:
        status = request(container.target, "POST", "/invocations", body, headers, 60).status
    except OSError as exc:
        status, sent = 0, f"{sent}: no answer ({exc.strerror or exc})"
    return _after_refusal(container, "oversize-body", status, "413", sent)


def _slow_clients(container: Container) -> Outcome:
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
    return _outcome("slow-clients", status, f"ping max {_ms(max(times))}", detail)


def _sigterm(container: Container, options: CheckOptions) -> Outcome:
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
    return _outcome("sigterm", Status.PASS if ok else Status.FAIL, value, detail)
