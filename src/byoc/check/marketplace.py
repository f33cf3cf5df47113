"""AWS Marketplace rules: no outbound attempts, and the validation transform locally.

``no-outbound``: the container's network namespace is made first, by a holder container
on an internal Docker network (no route out) running the image's own ``sleep``; a packet
capture starts in that namespace (:mod:`byoc.check.sniff`); then the image serves in it
(``--network container:HOLDER``), becomes healthy, predicts and idles 2 s. Every DNS
question and every connection it tries is listed. Without ``sleep`` in the image the
capture starts just after the container does (the detail says so).

``validation-transform``: what Marketplace's validation runs, a batch transform over the
sample, through :func:`byoc.local_transform.run_job` (network isolated).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..local import DockerError
from ..local_transform import ConfigError, JobOptions, run_job
from .container import Container, RunSpec, isolated_network
from .health import predict, wait_healthy
from .options import CheckOptions
from .rules import GROUPS, RULES, Outcome, Status
from .sniff import Sniffer

__all__ = ["check_marketplace"]

IDLE = 2.0


def check_marketplace(options: CheckOptions, wanted: set[str], scratch: Path) -> list[Outcome]:
    chosen = [rule_id for rule_id in GROUPS["marketplace"] if rule_id in wanted]
    outcomes = []
    for rule_id in chosen:
        options.say(f"marketplace: {rule_id}")
        try:
            if rule_id == "no-outbound":
                outcomes.append(_no_outbound(options))
            else:
                outcomes.append(_transform(options, scratch))
        except (DockerError, OSError, ConfigError) as exc:
            outcomes.append(Outcome(RULES[rule_id], Status.FAIL, "error", str(exc)))
    return outcomes


def _no_outbound(options: CheckOptions) -> Outcome:
    rule = RULES["no-outbound"]
    network = isolated_network()
    holder_spec = RunSpec(
        options.model, command=("3600",), network=network, entrypoint="sleep", label="holder"
    )
    holder: Container | None = None
    try:
        holder = Container.start(options.image, holder_spec)
        time.sleep(0.3)
        if not holder.running():
            raise DockerError("the image has no sleep")
    except DockerError:
        if holder is not None:
            holder.remove()
        holder = None
    sniffer = Sniffer()
    note = "capture from before the first instruction"
    if holder is not None:
        spec = RunSpec(
            options.model, env=options.env, network=f"container:{holder.name}", label="isolated"
        )
        sniffer.start_in(holder.pid())
        container = Container.start(options.image, spec)
    else:
        note = "the image has no sleep: capture began just after the container started"
        spec = RunSpec(options.model, env=options.env, network=network, label="isolated")
        container = Container.start(options.image, spec)
        sniffer.start_in(container.pid())
    try:
        startup = wait_healthy(container, options.startup_timeout)
        served = "healthy, predicted" if startup.healthy else f"not healthy ({startup.failure})"
        if startup.healthy:
            predict(container.target, options.sample)
        time.sleep(IDLE)
    finally:
        sniffer.stop()
        container.remove()
        if holder is not None:
            holder.remove()
    if sniffer.error or not sniffer.capturing:
        why = sniffer.error or "the capture did not start"
        return Outcome(
            rule, Status.NA, "not observed", f"{why} (root on the Docker host is needed)"
        )
    attempts = sniffer.attempts
    value = f"{len(attempts)} attempts" if attempts else "none seen"
    detail = f"{'; '.join(attempts[:5]) or 'no DNS question, SYN or UDP out'} ({served}; {note})"
    return Outcome(rule, Status.FAIL if attempts else Status.PASS, value, detail)


def _transform(options: CheckOptions, scratch: Path) -> Outcome:
    rule = RULES["validation-transform"]
    inputs, outputs = scratch / "transform-input", scratch / "transform-output"
    inputs.mkdir()
    suffix = ".csv" if "csv" in options.sample.content_type else ".data"
    (inputs / f"sample{suffix}").write_bytes(options.sample.body)
    job = JobOptions(content_type=options.sample.content_type, accept=options.sample.accept)
    outcome = run_job(
        options.image,
        options.model,
        inputs,
        outputs,
        job,
        env=options.env,
        startup_timeout=options.startup_timeout,
        say=lambda _message: None,
    )
    written = sorted(path.name for path in outputs.glob("*.out"))
    value = f"{outcome.status}, {outcome.records} records"
    if outcome.failure_reason or not written:
        return Outcome(rule, Status.FAIL, value, outcome.failure_reason or "no .out file")
    return Outcome(
        rule,
        Status.PASS,
        value,
        f"SplitType Line, network isolated, {outcome.parameters.describe()} "
        f"-> {', '.join(written)}",
    )
