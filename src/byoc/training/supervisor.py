"""The user's training program as a supervised child process.

byoc stays the parent so that whatever happens to the program — an exception, an exit
code, SIGKILL from the out-of-memory killer — there is still a process left to write the
failure file. The program runs in a session (process group) of its own: SIGTERM and
SIGINT are passed to it, and if it is still running ``grace`` seconds after the first one,
its whole group gets SIGKILL (before SageMaker's own SIGKILL, 120 s after SIGTERM, would
take byoc down with it). When the program exits, whatever it left running in its group is
killed, as the end of the container would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .oom import OomCounter, OomEvidence

__all__ = ["DEFAULT_GRACE_SECONDS", "Outcome", "StderrTee", "Supervisor"]

log = logging.getLogger("byoc.training")

DEFAULT_GRACE_SECONDS = 100.0
"""SIGTERM to SIGKILL: SageMaker allows 120 s; byoc keeps the rest to write the failure."""
_TAIL_BYTES = 16 * 1024


class StderrTee:
    """Copy the child's stderr to ours as it comes, keeping the last bytes for the failure file."""

    def __init__(self, source: int) -> None:
        self._source = source
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._pump, name="byoc-stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        while True:
            try:
                chunk = os.read(self._source, 65536)
            except OSError:
                break
            if not chunk:
                break
            if out is not None:
                with contextlib.suppress(OSError, ValueError):
                    out.write(chunk)
                    out.flush()
            self._tail += chunk
            if len(self._tail) > _TAIL_BYTES:
                del self._tail[: len(self._tail) - _TAIL_BYTES]

    def text(self) -> str:
        self._thread.join(10)
        return self._tail.decode("utf-8", "replace")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    """As :class:`subprocess.Popen` has it: negative for the signal that killed it."""
    stderr: str
    """The last 16 KiB the program wrote to stderr."""
    stopped: bool
    """SIGTERM or SIGINT arrived while it ran."""
    killed_after_grace: bool
    """byoc killed it for outliving SIGTERM by the grace period."""
    oom: OomEvidence | None


class Supervisor:
    """Run one program; :meth:`forward` is what the signal handlers call."""

    def __init__(self, grace: float = DEFAULT_GRACE_SECONDS) -> None:
        self.grace = grace
        self.stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._finished = False
        self._killed = False

    def forward(self, signum: int) -> None:
        """Pass ``signum`` on and start the grace period (at the first signal)."""
        self.stop.set()
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self._expire)
            self._timer.daemon = True
            self._timer.start()
        process = self._process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    def _expire(self) -> None:
        with self._lock:
            process = self._process
            if self._finished or process is None:
                return
            log.error(
                "training program still running %g s after SIGTERM: killing it (SIGKILL)",
                self.grace,
            )
            self._killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def run(self, argv: list[str], env: Mapping[str, str], cwd: Path | None) -> Outcome:
        oom = OomCounter()
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stderr=subprocess.PIPE, start_new_session=True
        )
        with self._lock:
            self._process = process
        if self.stop.is_set():  # SIGTERM arrived while starting
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        assert process.stderr is not None
        tee = StderrTee(process.stderr.fileno())
        try:
            returncode = process.wait()
        finally:
            with self._lock:
                self._finished = True
            if self._timer is not None:
                self._timer.cancel()
            self._kill_leftovers(process.pid)
        stderr = tee.text()
        process.stderr.close()
        return Outcome(
            returncode=returncode,
            stderr=stderr,
            stopped=self.stop.is_set(),
            killed_after_grace=self._killed,
            oom=oom.since() if returncode == -signal.SIGKILL else None,
        )

    @staticmethod
    def _kill_leftovers(group: int) -> None:
        """SIGKILL what the program left running in its process group (a data loader, a
        child that ignored SIGTERM), so nothing outlives the job and holds its stderr."""
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        log.warning("the training program left processes running in its group: killing them")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
