"""Dynamic batching: unit tests of the Batcher, then through Service.invoke with threads."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from byoc.batching import Batcher
from byoc.core import Service
from byoc.errors import ServiceUnavailable
from byoc.settings import Settings

from .conftest import write_handler


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


class Gate:
    """A predict function whose first call blocks until ``release`` (rows summed)."""

    def __init__(self, fn: Callable[[np.ndarray], Any] | None = None) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []  # rows per call
        self.fn = fn or (lambda x: x.sum(axis=1))

    def __call__(self, x: np.ndarray) -> Any:
        self.calls.append(len(x))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.opened.wait(5)
        return self.fn(x)


def run_concurrently(batcher: Batcher, gate: Gate, inputs: list[Any]) -> list[Any]:
    """Send inputs[0] first (it leads and blocks), queue the rest, then open the gate."""
    results: list[Any] = [None] * len(inputs)

    def call(i: int) -> None:
        try:
            results[i] = batcher(inputs[i])
        except BaseException as exc:  # the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    assert gate.entered.wait(5)
    for i in range(1, len(inputs)):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
    wait_for(lambda: len(batcher._queue) == len(inputs) - 1)
    gate.opened.set()
    for thread in threads:
        thread.join(5)
    return results


def test_waiting_requests_share_one_call_and_get_their_own_rows() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[i, 1.0]]) for i in range(6)] + [np.array([[10.0, 0], [20, 0]])]
    results = run_concurrently(batcher, gate, inputs)
    assert gate.calls == [1, 7]  # the leader alone, then everyone who queued meanwhile
    for x, result in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(result, x.sum(axis=1))
    assert batcher.batched == 6


def test_a_batch_holds_at_most_max_size_requests_in_arrival_order() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_size=3)
    inputs = [np.array([[float(i)]]) for i in range(8)]
    results = run_concurrently(batcher, gate, inputs)
    assert gate.calls[0] == 1 and max(gate.calls) <= 3 and sum(gate.calls) == 8
    assert [r.tolist() for r in results] == [[float(i)] for i in range(8)]


def test_data_that_cannot_be_joined_is_predicted_alone() -> None:
    gate = Gate(lambda x: x if isinstance(x, list) or x.dtype.kind == "U" else x.sum(axis=1))
    batcher = Batcher(gate, max_size=8)
    inputs: list[Any] = [
        np.array([[1.0, 1.0]]),
        np.array([[2.0, 2.0]]),
        np.array([[1.0, 2.0, 3.0]]),  # other width
        ["not", "an", "array"],
        np.array([[3.0, 3.0]]),
        np.array([["a", "b"]]),  # strings
    ]
    results = run_concurrently(batcher, gate, inputs)
    assert results[0].tolist() == [2.0]
    assert results[1].tolist() == [4.0] and results[4].tolist() == [6.0]
    assert results[2].tolist() == [6.0]
    assert results[3] == ["not", "an", "array"]
    assert results[5].tolist() == [["a", "b"]]
    assert 2 in gate.calls  # the two compatible 2-wide rows went together


def test_a_failing_batch_is_retried_one_by_one_so_only_the_culprit_fails() -> None:
    def strict(x: np.ndarray) -> np.ndarray:
        if np.isnan(x).any():
            raise ValueError("NaN in input")
        return x.sum(axis=1)

    gate = Gate(strict)
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[1.0]]), np.array([[2.0]]), np.array([[np.nan]]), np.array([[4.0]])]
    results = run_concurrently(batcher, gate, inputs)
    assert [r.tolist() for r in (results[0], results[1], results[3])] == [[1.0], [2.0], [4.0]]
    assert isinstance(results[2], ValueError)
    assert gate.calls == [1, 3, 1, 1, 1]  # leader, failed batch, then each alone


def test_output_that_cannot_be_split_turns_batching_off(caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate(lambda x: float(x.sum()))  # one number for the whole input: not row-wise
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[float(i)]]) for i in range(1, 5)]
    with caplog.at_level(logging.WARNING, logger="byoc.serving"):
        results = run_concurrently(batcher, gate, inputs)
    assert results == [1.0, 2.0, 3.0, 4.0]  # every request still gets its own answer
    assert not batcher.enabled
    assert "stops batching" in caplog.text
    assert gate.calls == [1, 3, 1, 1, 1]


def test_a_request_that_waits_longer_than_the_timeout_gets_503() -> None:
    gate = Gate()
    batcher = Batcher(gate, max_size=8, timeout=0.05)
    leader = threading.Thread(target=batcher, args=(np.array([[1.0]]),))
    leader.start()
    assert gate.entered.wait(5)
    with pytest.raises(ServiceUnavailable, match="busy"):
        batcher(np.array([[2.0]]))
    assert not batcher._queue  # the late request left the queue
    gate.opened.set()
    leader.join(5)


def test_a_lone_request_waits_at_most_the_gap() -> None:
    batcher = Batcher(lambda x: x, max_size=8, max_delay=5.0)
    started = time.perf_counter()
    for _ in range(20):
        batcher(np.array([[1.0]]))
    assert (time.perf_counter() - started) / 20 < 0.05  # 0.2 ms gap, not the 5 s delay


# -- through the service ---------------------------------------------------------------

ROW_SUM = """
import time

import numpy as np

calls = []

def model_fn(model_dir):
    return "model"

def predict_fn(data, model):
    calls.append(len(data))
    time.sleep(0.02)  # long enough for the other requests to queue
    return np.asarray(data).sum(axis=1)
"""


def service_for(ml_root: Path, source: str, **env: str) -> Service:
    write_handler(ml_root, source)
    settings = Settings.from_env({"SAGEMAKER_BASE_DIR": str(ml_root), **env})
    service = Service(settings)
    service.load()
    return service


def invoke_many(service: Service, bodies: list[bytes]) -> list[Any]:
    barrier = threading.Barrier(len(bodies))
    out: list[Any] = [None] * len(bodies)

    def call(i: int) -> None:
        barrier.wait()
        out[i] = service.invoke(bodies[i], "text/csv", "application/json", {})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return out


def test_service_batches_concurrent_requests_and_answers_each(ml_root: Path) -> None:
    service = service_for(ml_root, ROW_SUM, BYOC_MAX_BATCH_SIZE="16", BYOC_MAX_BATCH_DELAY_MS="200")
    bodies = [f"{i},1\n{i},2".encode() for i in range(12)] + [b"1,x"]
    responses = invoke_many(service, bodies)
    for i, response in enumerate(responses[:-1]):
        assert response.status == 200
        assert json.loads(response.body) == [i + 1.0, i + 2.0]
    assert responses[-1].status == 400  # a bad body fails alone, before the batch
    import inference  # the handler module, as the service imported it

    assert sum(inference.calls) == 24 and len(inference.calls) < 12


def test_service_without_batching_calls_predict_per_request(ml_root: Path) -> None:
    service = service_for(ml_root, ROW_SUM)
    responses = invoke_many(service, [b"1,1", b"2,2", b"3,3"])
    assert [json.loads(r.body) for r in responses] == [[2.0], [4.0], [6.0]]
    import inference

    assert inference.calls == [1, 1, 1]


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            "def model_fn(d):\n    return 1\n"
            "def transform_fn(m, body, ct, accept):\n    return body\n",
            "transform_fn",
        ),
        (
            "def model_fn(d):\n    return 1\n"
            "def predict_fn(data, model, context):\n    return data\n",
            "predict_fn takes context",
        ),
    ],
)
def test_batching_is_refused_where_it_cannot_apply(
    ml_root: Path, source: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="byoc.serving"):
        service = service_for(ml_root, source, BYOC_MAX_BATCH_SIZE="8")
    assert service._batcher is None
    assert "BYOC_MAX_BATCH_SIZE=8 ignored" in caplog.text and why in caplog.text
    response = service.invoke(b"1,2", "text/csv", "application/json", {})
    assert response.status == 200


def test_a_batch_that_cannot_be_joined_is_predicted_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import byoc.batching

    def no_memory(arrays: Any) -> Any:
        raise MemoryError("joining")

    monkeypatch.setattr(byoc.batching.np, "concatenate", no_memory)
    gate = Gate()
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[float(i)]]) for i in range(4)]
    results = run_concurrently(batcher, gate, inputs)
    assert [r.tolist() for r in results] == [[0.0], [1.0], [2.0], [3.0]]
    assert gate.calls == [1, 1, 1, 1]


def test_an_interrupt_fails_its_batch_and_nobody_hangs() -> None:
    def interrupted(x: np.ndarray) -> np.ndarray:
        if len(x) > 1:
            raise KeyboardInterrupt
        return x.sum(axis=1)

    gate = Gate(interrupted)
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[float(i)]]) for i in range(4)]
    results = run_concurrently(batcher, gate, inputs)
    assert results[0].tolist() == [0.0]  # the leader's own call ran alone, before
    assert all(isinstance(r, KeyboardInterrupt) for r in results[1:])
    assert not batcher._busy and not batcher._queue  # the next request can lead
    assert batcher(np.array([[5.0]])).tolist() == [5.0]


def test_a_scalar_output_turns_batching_off_and_answers_everyone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate(lambda x: np.asarray(x.mean()))  # 0-d: has no rows to split
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([[float(i)]]) for i in range(1, 4)]
    with caplog.at_level(logging.WARNING, logger="byoc.serving"):
        results = run_concurrently(batcher, gate, inputs)
    assert [float(r) for r in results] == [1.0, 2.0, 3.0]
    assert not batcher.enabled and "stops batching" in caplog.text


def test_one_dimensional_samples_are_not_joined() -> None:
    gate = Gate(lambda x: x * 2)
    batcher = Batcher(gate, max_size=8)
    inputs = [np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([5.0, 6.0])]
    results = run_concurrently(batcher, gate, inputs)
    assert [r.tolist() for r in results] == [[2.0, 4.0], [6.0, 8.0], [10.0, 12.0]]
    assert gate.calls == [2, 2, 2]  # each alone (len of a 1-D sample is its width)


def test_the_batch_takes_the_handler_slot_and_answers_503_when_it_never_frees() -> None:
    from byoc.fairness import FairSemaphore

    slots = FairSemaphore(1)
    batcher = Batcher(lambda x: x, max_size=8, slots=slots, timeout=0.05)
    assert slots.acquire()  # e.g. another request's input_fn, stuck
    with pytest.raises(ServiceUnavailable, match="busy"):
        batcher(np.array([[1.0]]))
    slots.release()
    assert batcher(np.array([[2.0]])).tolist() == [[2.0]]
    assert slots.acquire(timeout=0)  # the batcher gave the slot back
