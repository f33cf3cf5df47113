"""Batch transform rules: ``/execution-parameters`` and MULTI_RECORD order.

The image runs with ``SAGEMAKER_BATCH=true`` as a transform job starts it. Order: the
sample's records (its lines) are sent together, as MULTI_RECORD packs them, and one by
one; the answer to all of them must be the answers to each, in the same order (numbers
within a relative 1e-5: a batched matrix product may round differently).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..local import DockerError
from .container import Container, RunSpec
from .health import wait_healthy
from .options import CheckOptions, Sample
from .probe import Target, request
from .rules import GROUPS, RULES, Outcome, Status

__all__ = ["check_batch", "split_answer"]

STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")


def check_batch(options: CheckOptions, wanted: set[str]) -> list[Outcome]:
    chosen = [rule_id for rule_id in GROUPS["batch"] if rule_id in wanted]
    if not chosen:
        return []
    options.say("starting the image as a batch transform job does (SAGEMAKER_BATCH=true)")
    spec = RunSpec(options.model, env={**options.env, "SAGEMAKER_BATCH": "true"}, label="batch")
    outcomes: dict[str, Outcome] = {}
    try:
        with Container.start(options.image, spec) as container:
            startup = wait_healthy(container, options.startup_timeout)
            if startup.healthy:
                outcomes["execution-parameters"] = _parameters(container.target)
                outcomes["multi-record-order"] = _order(container.target, options.sample)
            else:
                failure = startup.failure
                outcomes = {
                    r: Outcome(RULES[r], Status.FAIL, "not healthy", failure) for r in chosen
                }
    except (DockerError, OSError) as exc:
        outcomes = {r: Outcome(RULES[r], Status.FAIL, "error", str(exc)) for r in chosen}
    return [outcomes[rule_id] for rule_id in chosen]


def _parameters(target: Target) -> Outcome:
    rule = RULES["execution-parameters"]
    answer = request(target, "GET", "/execution-parameters", timeout=10)
    if answer.status != 200:
        return Outcome(
            rule,
            Status.FAIL,
            str(answer.status),
            "no /execution-parameters (optional on SageMaker: the job's values or 1 / "
            "MULTI_RECORD / 6 MB are used instead)",
        )
    try:
        values = json.loads(answer.body)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        return Outcome(rule, Status.FAIL, "not JSON", answer.body[:100].decode(errors="replace"))
    problems = _problems(values)
    shown = ", ".join(
        f"{k}={values.get(k)}"
        for k in ("MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB")
    )
    detail = "; ".join(problems) if problems else "concurrency x payload <= 100 MB"
    return Outcome(rule, Status.FAIL if problems else Status.PASS, shown, detail)


def _problems(values: dict[str, Any]) -> list[str]:
    problems = []
    concurrency, strategy, payload = (
        values.get(key) for key in ("MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB")
    )
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        problems.append(f"MaxConcurrentTransforms={concurrency!r}: a whole number >= 1")
    if strategy not in STRATEGIES:
        problems.append(f"BatchStrategy={strategy!r}: MULTI_RECORD or SINGLE_RECORD")
    if not isinstance(payload, int) or isinstance(payload, bool) or not 0 <= payload <= 100:
        problems.append(f"MaxPayloadInMB={payload!r}: a whole number 0-100")
    elif isinstance(concurrency, int) and payload and concurrency * payload > 100:
        problems.append(f"{concurrency} x {payload} MB > 100 MB (SageMaker refuses it)")
    return problems


def split_answer(body: bytes) -> list[Any]:
    """One item per record: a JSON list (or its ``predictions``), else one per line."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("predictions"), list):
        value = value["predictions"]
    if isinstance(value, list):
        return value
    return [_numbers(line) for line in body.decode(errors="replace").splitlines() if line.strip()]


def _numbers(line: str) -> Any:
    try:
        return [float(field) for field in line.split(",")]
    except ValueError:
        return line


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, list) and len(a) == 1:
        return _close(a[0], b)
    if isinstance(b, list) and len(b) == 1:
        return _close(a, b[0])
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)
    return bool(a == b)


def _order(target: Target, sample: Sample) -> Outcome:
    rule = RULES["multi-record-order"]
    records = sample.records()
    if len(records) < 2:
        return Outcome(
            rule, Status.NA, f"{len(records)} record", "the sample has fewer than 2 lines"
        )
    joined = request(target, "POST", "/invocations", b"\n".join(records) + b"\n", sample.headers())
    if not 200 <= joined.status < 300:
        return Outcome(rule, Status.FAIL, str(joined.status), f"{len(records)} records together")
    together = split_answer(joined.body)
    alone = []
    for record in records:
        answer = request(target, "POST", "/invocations", record + b"\n", sample.headers())
        items = split_answer(answer.body)
        alone.append(items[0] if len(items) == 1 else items)
    value = f"{len(records)} in, {len(together)} out"
    if len(together) != len(records):
        return Outcome(rule, Status.FAIL, value, "not one answer per record")
    wrong = [i for i, (x, y) in enumerate(zip(together, alone, strict=True)) if not _close(x, y)]
    if wrong:
        return Outcome(
            rule,
            Status.FAIL,
            value,
            f"record {wrong[0] + 1}'s answer differs from its answer alone "
            f"({together[wrong[0]]!r} vs {alone[wrong[0]]!r}): order or batching changes results",
        )
    return Outcome(rule, Status.PASS, value, "each answer equals the record's own answer, in order")
