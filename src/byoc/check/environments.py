"""Rules about how the platform runs the container: its port, network, file system, user.

Each rule is one container started with one difference from the default (the
``SAGEMAKER_BIND_TO_PORT`` the label invites, ``--network none``, ``--read-only`` with a
tmpfs at ``/tmp``, ``--user 1000:1000``) that must become healthy and answer the sample
prediction. These containers run side by side (their timings are not rules).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..local import DockerError
from .container import Container, RunSpec, isolated_network
from .health import ping, predict, wait_healthy
from .image import BIND_LABEL, ImageInfo
from .options import CheckOptions
from .rules import RULES, Outcome, Status

__all__ = ["ENVIRONMENT_RULES", "check_environments"]

ENVIRONMENT_RULES = ["bind-to-port", "network-none", "read-only", "non-root"]
BIND_PORT = 9081
SAFE_RANGE = "20000-20999"
BARE_TIMEOUT = 120.0  # the no-tmpfs variant is a note, not a rule: it waits less
IGNORED_AFTER = 5.0  # seconds 8080 may answer while the asked port refuses


def check_environments(options: CheckOptions, info: ImageInfo, wanted: set[str]) -> list[Outcome]:
    jobs: dict[str, Callable[[], Outcome]] = {
        "bind-to-port": lambda: _bind_to_port(options, info),
        "network-none": lambda: _network_none(options),
        "read-only": lambda: _read_only(options),
        "non-root": lambda: _non_root(options),
    }
    chosen = [rule_id for rule_id in ENVIRONMENT_RULES if rule_id in wanted]
    if not chosen:
        return []
    options.say(f"starting {len(chosen)} containers side by side: {', '.join(chosen)}")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {rule_id: pool.submit(_timed, rule_id, jobs[rule_id]) for rule_id in chosen}
        return [futures[rule_id].result() for rule_id in chosen]


def _timed(rule_id: str, job: Callable[[], Outcome]) -> Outcome:
    began = time.monotonic()
    try:
        outcome = job()
    except (OSError, DockerError) as exc:
        outcome = Outcome(RULES[rule_id], Status.FAIL, "error", str(exc))
    return replace(outcome, seconds=time.monotonic() - began)


def _serves(
    options: CheckOptions,
    spec: RunSpec,
    port: int | None = None,
    give_up: Callable[[Container], str | None] | None = None,
    timeout: float | None = None,
) -> tuple[bool, str, str]:
    """(healthy and predicting, value, detail) for one container started from ``spec``."""
    with Container.start(options.image, spec) as container:
        target = container.at_port(port) if port else container.target
        startup = wait_healthy(
            container,
            timeout or options.startup_timeout,
            target=target,
            give_up=(lambda: give_up(container)) if give_up else None,
        )
        if startup.healthy_after is None:
            return False, "not healthy", startup.failure
        answer = predict(target, options.sample)
        healthy = f"healthy after {startup.healthy_after:.1f} s"
        if not 200 <= answer.status < 300:
            return (
                False,
                f"prediction {answer.status}",
                f"{healthy}, but the sample got {answer.status}",
            )
        return True, f"{healthy}, prediction {answer.status}", f"reached at {target}"


def _bind_to_port(options: CheckOptions, info: ImageInfo) -> Outcome:
    rule = RULES["bind-to-port"]
    if not info.flag(BIND_LABEL):
        return Outcome(rule, Status.NA, "no label", f"{BIND_LABEL}=true is not set: port 8080")
    env = {**options.env, "SAGEMAKER_BIND_TO_PORT": str(BIND_PORT)}
    env["SAGEMAKER_SAFE_PORT_RANGE"] = SAFE_RANGE
    spec = RunSpec(options.model, BIND_PORT, env=env, label="bind")
    seen: dict[str, float] = {}

    def ignored(container: Container) -> str | None:
        try:
            if ping(container.at_port(8080)).status == 200:
                seen.setdefault("since", time.monotonic())
        except OSError:
            return None
        if time.monotonic() - seen.get("since", time.monotonic()) > IGNORED_AFTER:
            return (
                f"/ping answers 200 on 8080 but nothing does on {BIND_PORT}: "
                "SAGEMAKER_BIND_TO_PORT is ignored although the label says it is honoured"
            )
        return None

    ok, value, detail = _serves(options, spec, BIND_PORT, ignored)
    return Outcome(
        rule,
        Status.PASS if ok else Status.FAIL,
        value,
        f"SAGEMAKER_BIND_TO_PORT={BIND_PORT}; {detail}",
    )


def _network_none(options: CheckOptions) -> Outcome:
    """``--network none`` is probed from inside its namespace, which needs root; otherwise
    the internal network (no route out, but reachable from the host) stands in."""
    network, how = "none", "--network none"
    if os.geteuid() != 0:
        network = isolated_network()
        how = f"not root, so --network {network} (internal: no route out) instead of none"
    spec = RunSpec(options.model, env=options.env, network=network, label="nonet")
    ok, value, detail = _serves(options, spec)
    status = Status.PASS if ok else Status.FAIL
    return Outcome(RULES["network-none"], status, value, f"{how}; {detail}")


def _read_only(options: CheckOptions) -> Outcome:
    with_tmpfs = RunSpec(
        options.model, env=options.env, read_only=True, tmpfs=("/tmp",), label="ro"
    )
    bare = replace(with_tmpfs, tmpfs=(), label="ro-bare")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_serves, options, with_tmpfs)
        second = pool.submit(
            _serves, options, bare, timeout=min(options.startup_timeout, BARE_TIMEOUT)
        )
        ok, value, detail = first.result()
        bare_ok, _, bare_detail = second.result()
    note = (
        "it also works without the tmpfs"
        if bare_ok
        else f"without a tmpfs at /tmp it does not work ({bare_detail})"
    )
    return Outcome(
        RULES["read-only"],
        Status.PASS if ok else Status.FAIL,
        value,
        f"--read-only --tmpfs /tmp; {detail}; {note}",
    )


def _non_root(options: CheckOptions) -> Outcome:
    spec = RunSpec(options.model, env=options.env, user="1000:1000", label="user")
    ok, value, detail = _serves(options, spec)
    return Outcome(
        RULES["non-root"], Status.PASS if ok else Status.FAIL, value, f"--user 1000:1000; {detail}"
    )
