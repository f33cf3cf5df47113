"""Training rules: a job that succeeds, one that must fail well, one that is stopped.

Each runs ``docker run IMAGE train`` through :func:`byoc.local.train` (the ``/opt/ml``
tree mounted as SageMaker does, no network) on a copy of the job's ``input/``:

- ``train-success``: exit 0 and files in ``/opt/ml/model``;
- ``train-failure``: ``hyperparameters.json`` is not JSON: a non-zero exit and a
  non-empty ``/opt/ml/output/failure`` (the job's FailureReason);
- ``train-sigterm``: SIGTERM after a few seconds (StopTrainingJob): the container must
  exit before SIGKILL (120 s later on SageMaker); not applicable when it has already
  finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..local import DockerError, train
from .options import CheckOptions
from .rules import GROUPS, RULES, Outcome, Status

__all__ = ["check_training"]

DEFAULT_JOB = Path("local_test/test_dir")
STOP_AFTER = 5.0  # seconds of training before SIGTERM


def check_training(options: CheckOptions, wanted: set[str], scratch: Path) -> list[Outcome]:
    chosen = [rule_id for rule_id in GROUPS["train"] if rule_id in wanted]
    if not chosen:
        return []
    source = options.train_dir or DEFAULT_JOB
    if not (source / "input" / "config").is_dir():
        why = f"{source} has no input/config: give --train-dir (an /opt/ml tree)"
        return [Outcome(RULES[rule_id], Status.FAIL, "no job", why) for rule_id in chosen]
    checks = {"train-success": _success, "train-failure": _failure, "train-sigterm": _sigterm}
    outcomes = []
    for rule_id in chosen:
        options.say(f"training: {rule_id}")
        job = scratch / rule_id
        shutil.copytree(source / "input", job / "input")
        try:
            outcomes.append(checks[rule_id](options, job))
        except DockerError as exc:
            outcomes.append(Outcome(RULES[rule_id], Status.FAIL, "error", str(exc)))
    return outcomes


def _success(options: CheckOptions, job: Path) -> Outcome:
    result = train(options.image, job, env=options.env, network=False, stream=False)
    files = sorted(p.name for p in (job / "model").rglob("*") if p.is_file())
    value = f"exit {result.exit_code} in {result.seconds:.0f} s, {len(files)} model files"
    if result.exit_code != 0:
        return Outcome(RULES["train-success"], Status.FAIL, value, result.failure_reason or "")
    if not files:
        return Outcome(RULES["train-success"], Status.FAIL, value, "nothing in /opt/ml/model")
    return Outcome(RULES["train-success"], Status.PASS, value, ", ".join(files[:5]), result.seconds)


def _failure(options: CheckOptions, job: Path) -> Outcome:
    (job / "input" / "config" / "hyperparameters.json").write_text('{"epochs": "1",')
    result = train(options.image, job, env=options.env, network=False, stream=False)
    failure = job / "output" / "failure"
    text = failure.read_text(errors="replace").strip() if failure.is_file() else ""
    value = f"exit {result.exit_code}, failure file {'written' if text else 'missing'}"
    ok = result.exit_code != 0 and bool(text)
    detail = f"malformed hyperparameters.json; FailureReason: {text[:160] or '(none)'}"
    return Outcome(RULES["train-failure"], Status.PASS if ok else Status.FAIL, value, detail)


def _sigterm(options: CheckOptions, job: Path) -> Outcome:
    grace = options.train_stop_grace
    result = train(
        options.image,
        job,
        env=options.env,
        network=False,
        stream=False,
        max_runtime=STOP_AFTER,
        stop_grace=grace,
    )
    rule = RULES["train-sigterm"]
    if not result.stopped:
        return Outcome(
            rule,
            Status.NA,
            f"done in {result.seconds:.0f} s",
            f"training finished before SIGTERM could be sent at {STOP_AFTER:g} s",
        )
    after = max(0.0, result.seconds - STOP_AFTER)
    value = f"exit {result.exit_code} {after:.1f} s after SIGTERM"
    killed = result.exit_code == 137 or after >= grace
    detail = f"SIGTERM after {STOP_AFTER:g} s, SIGKILL would follow {grace} s later"
    if killed:
        detail = f"ignored SIGTERM: SIGKILLed after {grace} s; " + detail
    return Outcome(rule, Status.FAIL if killed else Status.PASS, value, detail)
