"""``/opt/ml/output/failure``: what went wrong first (SageMaker's FailureReason), then the
tail of the program's stderr."""

from __future__ import annotations

import logging
import signal

from ..paths import MLPaths
from .oom import OomEvidence

__all__ = ["FAILURE_REASON_CHARS", "exception_line", "failure_summary", "write_failure"]

log = logging.getLogger("byoc.training")

FAILURE_REASON_CHARS = 1024  # what SageMaker shows as FailureReason
_TRACEBACK = "Traceback (most recent call last):"


def exception_line(stderr: str) -> str | None:
    """The ``Type: message`` line of the last Python traceback in ``stderr``."""
    lines = stderr.splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith(_TRACEBACK)), default=-1)
    if start >= 0:
        for line in lines[start + 1 :]:
            if line and not line[0].isspace() and not line.startswith(_TRACEBACK):
                return line.strip()
    return None


def _sigkill_cause(oom: OomEvidence | None) -> str:
    if oom is None:
        return "often the out-of-memory killer's doing (the container's OOM count cannot be read)"
    if oom.killed:
        limit = f"; memory limit {oom.limit_mib} MiB" if oom.limit_mib else ""
        return f"by the kernel's out-of-memory killer (the container's cgroup counted it{limit})"
    return (
        "by something other than the out-of-memory killer "
        "(the container's cgroup counted no OOM kill)"
    )


def failure_summary(
    returncode: int,
    stderr: str,
    program: str,
    stopped: bool,
    *,
    grace: float | None = None,
    oom: OomEvidence | None = None,
) -> str:
    """The first line of the failure file: what went wrong, error type first.

    ``grace`` is set when the program outlived SIGTERM by that many seconds and byoc
    killed it; ``oom`` is what the cgroup says about out-of-memory kills meanwhile.
    """
    exit_code = returncode if returncode >= 0 else 128 - returncode
    if grace is not None:
        how = (
            f"did not exit within {grace:g} s of SIGTERM (StopTrainingJob or MaxRuntime) and "
            f"was killed by SIGKILL (signal 9, exit code {exit_code})"
        )
    elif returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        how = f"was killed by {name} (signal {number}, exit code {exit_code})"
        if number == signal.SIGKILL:
            how += ", " + _sigkill_cause(oom)
    else:
        how = f"exited with code {returncode}"
    if stopped and grace is None:
        how += " after SIGTERM (StopTrainingJob or MaxRuntime)"
    cause = exception_line(stderr)
    if cause is None:
        last = [line.strip() for line in stderr.splitlines() if line.strip()]
        cause = last[-1] if last else None
        if cause and "MemoryError" in stderr and "MemoryError" not in cause:
            cause = "MemoryError: " + cause
    summary = f"AlgorithmError: training program {program} {how}"
    return f"{summary}: {cause}" if cause else summary


def write_failure(paths: MLPaths, summary: str, details: str = "") -> None:
    """Write ``/opt/ml/output/failure``: summary first (SageMaker keeps 1024 characters)."""
    text = summary.rstrip() + "\n"
    if details.strip():
        text += "\n" + details.strip() + "\n"
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(text)
    except OSError as exc:
        log.error("cannot write %s: %s", paths.failure_file, exc)
    log.error("%s", summary)
