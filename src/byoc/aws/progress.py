"""Progress for every step that waits: rich on a terminal, plain lines elsewhere, JSON for CI.

Library functions take a ``Reporter`` and say what they do through it; they never print.
``Reporter("quiet")`` says nothing but the result; ``Reporter("json")`` writes one JSON
object per event to stderr and the result to stdout, for scripts and CI logs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

__all__ = ["Mode", "Reporter", "Task"]

Mode = Literal["auto", "rich", "plain", "quiet", "json"]


class Task:
    """One thing being waited for: a status that changes, or a count that grows to a total."""

    def __init__(self, reporter: Reporter, what: str, total: float | None) -> None:
        self._reporter = reporter
        self.what = what
        self.total = total
        self.done = 0.0
        self.status = ""
        self.started = time.monotonic()
        self._rich: Any = None
        self._last_plain = 0.0

    def update(
        self, status: str | None = None, advance: float = 0, done: float | None = None
    ) -> None:
        changed = status is not None and status != self.status
        if status is not None:
            self.status = status
        self.done = done if done is not None else self.done + advance
        self._reporter._update(self, changed)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Reporter:
    def __init__(self, mode: Mode = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "plain"
        self.mode = mode
        self._progress: Any = None

    def info(self, message: str, **data: Any) -> None:
        """A step that happened ("created repository byoc")."""
        self._emit("info", message, data)

    def warn(self, message: str, **data: Any) -> None:
        self._emit("warning", message, data)

    def _emit(self, kind: str, message: str, data: dict[str, Any]) -> None:
        event = {"event": kind, "message": message, **data}
        if self.mode == "json":
            self.stream.write(json.dumps(event, default=str) + "\n")
        elif self.mode != "quiet":
            prefix = "warning: " if kind == "warning" else ""
            if self._progress is not None:
                self._progress.console.print(prefix + message, markup=False, highlight=False)
            else:
                self.stream.write(f"{prefix}{message}\n")
        self.stream.flush()

    @contextmanager
    def task(self, what: str, total: float | None = None) -> Iterator[Task]:
        """A step that waits; ``task.update(status=..., advance=...)`` as it goes."""
        task = Task(self, what, total)
        if self.mode == "rich":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
            if total is not None:
                columns += [BarColumn(), DownloadColumn() if total > 1024 else TextColumn("")]
            columns += [TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
            console = Console(file=self.stream)
            with Progress(*columns, console=console, transient=True) as progress:
                self._progress = progress
                task._rich = progress.add_task(what, total=total, status="")
                try:
                    yield task
                finally:
                    self._progress = None
        else:
            self._emit("start", what, {"total": total} if total is not None else {})
            yield task
        self._emit("done", f"{what}: done in {task.elapsed:.1f}s", {"seconds": task.elapsed})

    def _update(self, task: Task, changed: bool) -> None:
        if self._progress is not None and task._rich is not None:
            self._progress.update(task._rich, completed=task.done, status=task.status)
        elif changed or (task.total and time.monotonic() - task._last_plain > 5):
            task._last_plain = time.monotonic()
            counted = f"{task.done:.0f}/{task.total:.0f}" if task.total else ""
            said = " ".join(part for part in (task.status, counted) if part)
            self._emit(
                "progress",
                f"{task.what}: {said} after {task.elapsed:.0f}s",
                {"status": task.status, "done": task.done},
            )

    def result(self, data: dict[str, Any], line: str) -> None:
        """The outcome: JSON on stdout in json mode, else ``line`` on stdout."""
        if self.mode == "json":
            sys.stdout.write(json.dumps(data, default=str) + "\n")
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
