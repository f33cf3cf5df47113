"""Progress while a check waits: a spinner on a terminal, one plain line per step in CI logs."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress"]


class Progress:
    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.began = time.monotonic()
        self._status: Any = None
        if not quiet and self.stream.isatty():
            from rich.console import Console

            self._status = Console(file=self.stream).status("byoc check: starting")
            self._status.start()

    def say(self, message: str) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self.began
        if self._status is not None:
            self._status.update(f"byoc check [{elapsed:4.0f} s]: {message}")
        else:
            self.stream.write(f"byoc check [{elapsed:4.0f} s]: {message}\n")
            self.stream.flush()

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
