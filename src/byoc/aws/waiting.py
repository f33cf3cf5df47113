"""Poll a Describe* call until its status is final, showing each status as it changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from .errors import AwsError
from .progress import Reporter

__all__ = ["wait_for_status"]


def wait_for_status(
    describe: Callable[[], dict[str, Any]],
    status_key: str,
    what: str,
    done: Collection[str],
    failed: Collection[str],
    reporter: Reporter,
    timeout: float = 3600,
    interval: float = 10,
) -> dict[str, Any]:
    """The last description once ``status_key`` is in ``done``; ``AwsError`` on ``failed``."""
    deadline = time.monotonic() + timeout
    with reporter.task(what) as task:
        while True:
            description = describe()
            status = str(description.get(status_key, "?"))
            task.update(status=status)
            if status in done:
                return description
            if status in failed:
                reason = description.get("FailureReason") or "no FailureReason given"
                raise AwsError(f"{what}: {status}: {reason}")
            if time.monotonic() > deadline:
                raise AwsError(f"{what}: still {status} after {timeout:g}s; gave up waiting")
            time.sleep(interval)
