from __future__ import annotations

import threading
import time

import pytest

from byoc.fairness import FairSemaphore


def test_waiters_are_served_in_arrival_order() -> None:
    semaphore = FairSemaphore(1)
    assert semaphore.acquire()
    order: list[int] = []

    def worker(index: int) -> None:
        assert semaphore.acquire(timeout=5)
        order.append(index)
        semaphore.release()

    threads = []
    for index in range(5):
        thread = threading.Thread(target=worker, args=(index,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # queue them in a known order
    semaphore.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_timeout_leaves_the_queue_consistent() -> None:
    semaphore = FairSemaphore(1)
    assert semaphore.acquire()
    started = time.monotonic()
    assert semaphore.acquire(timeout=0.1) is False
    assert time.monotonic() - started >= 0.1
    semaphore.release()
    assert semaphore.acquire(timeout=0)  # the timed-out waiter did not keep the slot
    semaphore.release()


def test_counts_several_slots() -> None:
    semaphore = FairSemaphore(2)
    assert semaphore.acquire(timeout=0) and semaphore.acquire(timeout=0)
    assert semaphore.acquire(timeout=0.01) is False
    semaphore.release()
    assert semaphore.acquire(timeout=0)
    with pytest.raises(ValueError):
        FairSemaphore(0)
