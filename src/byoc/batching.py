"""Dynamic batching: requests that wait for the model together share one predict call.

Off by default (``BYOC_MAX_BATCH_SIZE=1``). It is right only for *row-wise* models,
where output row ``i`` depends on input row ``i`` alone and ``len(output) == len(input)``
(scikit-learn, XGBoost and most Keras ``predict`` calls are). Most of a small model's
time is the fixed cost of one call (input checks, framework dispatch), so one call for
several requests multiplies throughput under load.

How a batch forms: each request decodes its own body, then queues its array here. If
the model is idle, that request's thread becomes the *leader*: it takes the queued
arrays that share its dtype and trailing shape (first come, first served) and waits
for more while requests keep coming. The batch closes when it holds ``max_size``
requests, when none has arrived for :data:`GAP_SECONDS` (0.2 ms: what a request that
comes alone waits), or ``max_delay`` after the leader began; after a batch that nobody
joined, a leader that finds no other request waiting does not wait at all (measured on
a 2-vCPU VM with the Keras example, the 0.2 ms wait added ~0.5 ms to each request of a
lone client: the wait, then a slower predict on a core that had gone idle). The leader
then takes the handler slot, joins the arrays along axis 0, calls predict once and hands
every request its own rows. One predict call runs at a time.

Requests whose data cannot be joined (not a numeric array of two or more dimensions, or
another shape) are predicted alone, in turn. If joining or a joined call fails, every
request of that batch is predicted alone, so an error reaches only the request that
causes it. If the output cannot be split back by rows, byoc warns once and stops
batching in that worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ServiceUnavailable
from .fairness import FairSemaphore

__all__ = ["Batcher"]

# A batch closes when no request has joined it for this long (or it is full, or
# max_delay has passed). Requests of one worker reach the model one GIL turn apart,
# tens of microseconds; measured on iris, 0.1 / 0.2 / 0.4 ms gave 3,517 / 3,691 /
# 3,541 req/s.
GAP_SECONDS = 0.0002

log = logging.getLogger("byoc.serving")


class _Item:
    __slots__ = ("data", "deadline", "done", "error", "result", "rows", "wake")

    def __init__(self, data: Any, deadline: float | None, wake: threading.Condition) -> None:
        self.data = data
        self.deadline = deadline
        self.wake = wake  # its thread waits here: for its result, or its turn to lead
        self.rows = _rows(data)
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def joins(self, first: _Item) -> bool:
        a, b = self.data, first.data
        return self.rows is not None and a.dtype == b.dtype and a.shape[1:] == b.shape[1:]


def _rows(data: Any) -> int | None:
    """Rows of a joinable array (numeric, rows x features...), else None.

    A 1-D array is left alone: it is often one sample (a flat JSON list), and joining
    two would lay their features end to end.
    """
    if isinstance(data, np.ndarray) and data.ndim >= 2 and data.dtype.kind in "biufc":
        return int(data.shape[0])
    return None


def _length(output: Any) -> int | None:
    """Rows of a prediction that can be split back by rows, else None."""
    if isinstance(output, (list, tuple)):
        return len(output)
    if isinstance(output, np.ndarray) and output.ndim >= 1:
        return int(output.shape[0])
    return None


class Batcher:
    """Runs ``predict`` for many waiting requests at once (one worker, thread-safe)."""

    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_size: int,
        max_delay: float = 0.0,
        slots: FairSemaphore | None = None,
        timeout: float | None = None,
    ) -> None:
        if max_size < 2:
            raise ValueError("max_size must be at least 2 (1 means no batching)")
        self._predict = predict
        self.max_size = max_size
        self.max_delay = max_delay
        self._slots = slots
        self._timeout = timeout
        # One lock; each waiting request has a condition of its own on it, so a finished
        # batch wakes only its own requests (and the next leader), not every thread that
        # waits: with 32 waiting and batches of 4, waking them all cost about what
        # batching saved (Keras example, 32 clients: no faster than batching off).
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # the leader: a request has queued
        self._queue: deque[_Item] = deque()
        self._busy = False
        self._collecting = False
        self._alone = False  # the last batch waited the gap and nobody joined it
        self.enabled = True
        self.batched = 0  # requests answered by a joined call

    def __call__(self, data: Any) -> Any:
        """The prediction for ``data``; raises what predict raised for it."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        item = _Item(data, deadline, threading.Condition(self._lock))
        with self._lock:
            self._queue.append(item)
            if self._collecting:
                self._arrived.notify()
            while not item.done and self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    if item in self._queue:  # not yet taken into a running batch
                        self._queue.remove(item)
                        raise ServiceUnavailable.busy()
                    deadline = remaining = None  # it is being predicted: wait for it
                item.wake.wait(remaining)
            if not item.done:
                self._busy = True  # our turn to lead
        if not item.done:
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.result

    def _lead(self, item: _Item) -> None:
        try:
            while not item.done:
                self._run(self._take())
        finally:
            with self._lock:
                if not item.done and item in self._queue:  # leaving early (interrupted)
                    self._queue.remove(item)
                self._busy = False
                if self._queue:  # the oldest waiting request leads next
                    self._queue[0].wake.notify()

    def _take(self) -> list[_Item]:
        with self._lock:
            first = self._queue.popleft()
            batch = [first]
            if first.rows is None or not self.enabled:
                return batch
            if self._alone and not self._queue:
                return batch  # the last request waited for company in vain: go at once
            give_up = time.monotonic() + self.max_delay
            while True:
                kept: list[_Item] = []
                while self._queue and len(batch) < self.max_size:
                    candidate = self._queue.popleft()
                    (batch if candidate.joins(first) else kept).append(candidate)
                self._queue.extendleft(reversed(kept))
                wait = min(give_up - time.monotonic(), GAP_SECONDS)
                if len(batch) >= self.max_size or wait <= 0:
                    self._alone = len(batch) == 1
                    return batch
                self._collecting = True
                try:
                    if not self._arrived.wait(wait):
                        self._alone = len(batch) == 1
                        return batch  # nothing arrived for a while: go
                finally:
                    self._collecting = False

    def _run(self, batch: list[_Item]) -> None:
        try:
            if self._acquire_slot(batch):
                try:
                    self._predict_batch(batch)
                finally:
                    if self._slots is not None:
                        self._slots.release()
            else:
                for one in batch:
                    one.error, one.done = ServiceUnavailable.busy(), True
        finally:
            with self._lock:
                for one in batch:
                    one.wake.notify()

    def _acquire_slot(self, batch: list[_Item]) -> bool:
        """Take the handler slot now that the batch is complete (while it filled, other
        requests' input_fn, which needs the slot too, could run). It may wait as long as
        the most patient request of the batch."""
        if self._slots is None:
            return True
        remaining = None
        if self._timeout is not None:  # then every item has a deadline
            latest = max(one.deadline for one in batch if one.deadline is not None)
            remaining = max(0.0, latest - time.monotonic())
        return self._slots.acquire(timeout=remaining)

    def _predict_batch(self, batch: list[_Item]) -> None:
        try:
            if len(batch) > 1:
                self._run_joined(batch)
            for one in batch:
                if not one.done:
                    self._run_one(one)
        except BaseException as exc:  # KeyboardInterrupt and such: nobody may wait forever
            for one in batch:
                if not one.done:
                    one.error, one.done = exc, True
            raise

    def _run_one(self, item: _Item) -> None:
        try:
            item.result = self._predict(item.data)
        except (Exception, SystemExit) as exc:
            item.error = exc
        item.done = True

    def _run_joined(self, batch: list[_Item]) -> None:
        """Predict the batch in one call; leave its requests undone if that fails."""
        try:
            joined = np.concatenate([one.data for one in batch])
        except Exception as exc:  # e.g. MemoryError: predict them one by one
            log.debug("a batch of %d could not be joined (%s)", len(batch), exc)
            return
        try:
            output = self._predict(joined)
        except (Exception, SystemExit) as exc:
            log.debug("a batch of %d failed (%s); predicting them one by one", len(batch), exc)
            return
        total = joined.shape[0]
        length = _length(output)
        if length != total:
            self.enabled = False
            log.warning(
                "predict returned %s for a batch of %d rows: batching needs one output "
                "row per input row, so this worker stops batching (BYOC_MAX_BATCH_SIZE)",
                type(output).__name__ if length is None else f"{length} rows",
                total,
            )
            return
        start = 0
        for one in batch:
            assert one.rows is not None
            one.result = output[start : start + one.rows]
            one.done = True
            start += one.rows
        self.batched += len(batch)
