"""The files of a transform job through a healthy container, as the batch platform runs them.

Files in path order, each split into records and packed into requests (never two files in
one request); up to MaxConcurrentTransforms requests in flight across files; each file's
results kept in record order and written to ``<output>/<relative path>.out``. A file whose
record fails (after the retries) gets no ``.out`` and sends nothing more; the others go
on. When a MultiRecord request gets a 4xx, its records are sent again one at a time to
name the record that fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from .client import Answer, Invoker
from .config import JobOptions, Resolved
from .processing import DataProcessing, ProcessingError, assemble, single_result, split_answer
from .records import Batch, Record, RecordError, pack, split

__all__ = ["FileOutcome", "JobOutcome", "Runner", "input_files"]


@dataclass(frozen=True)
class FileOutcome:
    relative: str
    records: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    files: list[FileOutcome]
    seconds: float
    parameters: Resolved

    @property
    def failed(self) -> list[FileOutcome]:
        return [outcome for outcome in self.files if outcome.error]

    @property
    def status(self) -> str:
        return "Failed" if self.failed else "Completed"

    @property
    def records(self) -> int:
        """Records of the files that were transformed."""
        return sum(outcome.records for outcome in self.files if not outcome.error)

    @property
    def failure_reason(self) -> str | None:
        if not self.failed:
            return None
        first = self.failed[0]
        return (
            f"{len(self.failed)} of {len(self.files)} input files failed; "
            f"{first.relative}: {first.error}"
        )


def input_files(root: Path) -> list[tuple[Path, str]]:
    """Every file under ``root`` (or ``root`` itself) with its path relative to it."""
    if root.is_file():
        return [(root, root.name)]
    return sorted(
        ((path, path.relative_to(root).as_posix()) for path in root.rglob("*") if path.is_file()),
        key=lambda item: item[1],
    )


@dataclass
class _Part:
    batch: Batch
    content_type: str | None
    results: list[bytes]


@dataclass
class _File:
    path: Path
    relative: str
    records: int = 0
    originals: dict[int, bytes] = field(default_factory=dict)
    parts: list[Future[_Part | None]] = field(default_factory=list)
    error: str | None = None
    started: float = float("inf")
    ended: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, message: str) -> None:
        with self.lock:
            self.error = self.error or message

    def timed(self, started: float, ended: float) -> None:
        with self.lock:
            self.started, self.ended = min(self.started, started), max(self.ended, ended)

    def done(self) -> bool:
        return all(part.done() for part in self.parts)


class Runner:
    def __init__(
        self,
        invoker: Invoker,
        options: JobOptions,
        processing: DataProcessing,
        resolved: Resolved,
        say: Callable[[str], None],
    ) -> None:
        self.invoker = invoker
        self.options = options
        self.processing = processing
        self.resolved = resolved
        self.say = say
        self.split_type = options.split_type
        self.multi = resolved.batch_strategy == "MultiRecord"

    def run(self, files: Iterable[tuple[Path, str]], output: Path) -> JobOutcome:
        started = time.monotonic()
        outcomes: list[FileOutcome] = []
        waiting: deque[_File] = deque()
        workers = self.resolved.max_concurrent
        slots = threading.BoundedSemaphore(2 * workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="byoc-transform") as pool:
            for path, relative in files:
                job = _File(path, relative)
                try:
                    self._submit(job, pool, slots)
                except (OSError, ValueError) as exc:  # unreadable, unsplittable, too big
                    job.fail(str(exc))
                waiting.append(job)
                while waiting and waiting[0].done():
                    outcomes.append(self._finish(waiting.popleft(), output))
            while waiting:
                outcomes.append(self._finish(waiting.popleft(), output))
        return JobOutcome(outcomes, time.monotonic() - started, self.resolved)

    def _submit(
        self, job: _File, pool: ThreadPoolExecutor, slots: threading.BoundedSemaphore
    ) -> None:
        batches: Iterator[Batch]
        body: Path | None = None
        if self._streamed():
            job.records = 1
            batches, body = iter([Batch((Record(b"", 1),), b"")]), job.path
        else:
            records = split(job.path.read_bytes(), self.split_type)
            job.records = len(records)
            if self.processing.join_input:
                job.originals = {record.number: record.data for record in records}
            batches = pack(
                self._filtered(records), self.split_type, self.resolved.limit, self.multi
            )
        for batch in batches:
            slots.acquire()
            if job.error:
                slots.release()
                return
            part = pool.submit(self._send, job, batch, body or batch.body)
            part.add_done_callback(lambda _: slots.release())
            job.parts.append(part)

    def _streamed(self) -> bool:
        """A whole file sent chunked straight from disk (SplitType None, MaxPayloadInMB 0)."""
        plain = not (self.processing.input_filter or self.processing.per_record)
        return self.split_type == "None" and self.resolved.limit == 0 and plain

    def _filtered(self, records: list[Record]) -> Iterator[Record]:
        for record in records:
            try:
                yield replace(record, data=self.processing.filter_input(record.data))
            except ValueError as exc:
                raise RecordError(f"{record.where(self.split_type)}: InputFilter: {exc}") from None

    def _send(self, job: _File, batch: Batch, body: bytes | Path) -> _Part | None:
        if job.error:
            return None
        started = time.monotonic()
        answer = self.invoker.invoke(body)
        job.timed(started, time.monotonic())
        if not answer.ok:
            job.fail(self._failure(batch, answer))
            return None
        try:
            return _Part(batch, answer.content_type, self._results(batch, answer))
        except ProcessingError as exc:
            job.fail(f"{batch.where(self.split_type)}: {exc}")
            return None

    def _results(self, batch: Batch, answer: Answer) -> list[bytes]:
        if self.options.assemble_with != "Line" and not self.processing.per_record:
            return [answer.body]
        if self.multi and self.split_type != "None":  # a whole file's answer is one result
            return split_answer(answer.body, answer.content_type, len(batch.records))
        return [single_result(answer.body)]

    def _failure(self, batch: Batch, answer: Answer) -> str:
        where = batch.where(self.split_type)
        if not 400 <= answer.status < 500 or len(batch.records) == 1:
            return f"{where}: {answer.message()}"
        for record in batch.records:  # which record is it?
            alone = self.invoker.invoke(next(pack([record], self.split_type, 0, False)).body)
            if not alone.ok:
                return (
                    f"{record.where(self.split_type)}: {alone.message()} (the request "
                    f"for {where} was answered {answer.status}; this record alone fails too)"
                )
        return f"{where}: {answer.message()} (each of its records alone succeeds)"

    def _finish(self, job: _File, output: Path) -> FileOutcome:
        parts = [part.result() for part in job.parts]
        target = output / f"{job.relative}.out"
        if job.error is None:
            try:
                _write(target, assemble(self._pieces(job, parts), self.options.assemble_with))
            except (OSError, ValueError) as exc:
                job.fail(str(exc))
        if job.error is not None:
            target.unlink(missing_ok=True)
        seconds = max(0.0, job.ended - job.started)
        outcome = FileOutcome(job.relative, job.records, seconds, job.error)
        if outcome.error:
            self.say(f"  {job.relative}: Failed: {outcome.error}")
        else:
            self.say(f"  {job.relative}: {job.records} records, {seconds:.2f}s")
        return outcome

    def _pieces(self, job: _File, parts: list[_Part | None]) -> list[bytes]:
        pieces: list[bytes] = []
        for part in parts:
            assert part is not None  # a part is None only when the file failed
            if not self.processing.per_record:
                pieces.extend(part.results)
                continue
            for record, result in zip(part.batch.records, part.results, strict=True):
                try:
                    original = job.originals.get(record.number, b"")
                    pieces.append(self.processing.finish(original, result, part.content_type))
                except ValueError as exc:
                    raise RecordError(f"{record.where(self.split_type)}: {exc}") from None
        return pieces


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
