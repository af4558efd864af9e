"""``Worker``: calls run in order on one thread; results and errors reach the caller."""

from __future__ import annotations

import functools
import threading

import pytest

from passgate.background import Job, Worker


def test_calls_run_in_order_on_the_worker_thread() -> None:
    worker = Worker("test-worker")
    seen: list[tuple[int, str]] = []
    release = threading.Event()
    first = worker.submit(lambda: release.wait(10))

    def note(n: int) -> None:
        seen.append((n, threading.current_thread().name))

    jobs = [worker.submit(functools.partial(note, n)) for n in range(5)]
    assert not first.done()  # the first call still holds the thread
    release.set()
    assert all(job.wait(10) for job in jobs)
    assert seen == [(n, "test-worker") for n in range(5)]
    worker.close()


def test_a_job_gives_its_value_or_raises_its_error() -> None:
    worker = Worker("test-worker")
    value = worker.submit(lambda: 42)
    failing: Job[int] = worker.submit(lambda: 1 // 0)
    assert value.wait(10)
    assert failing.wait(10)
    assert value.result() == 42
    with pytest.raises(ZeroDivisionError):
        failing.result()
    worker.close()


def test_a_job_not_run_yet_has_no_result() -> None:
    worker = Worker("test-worker")
    release = threading.Event()
    worker.submit(lambda: release.wait(10))
    pending = worker.submit(lambda: 1)
    with pytest.raises(RuntimeError, match="not run yet"):
        pending.result()
    release.set()
    worker.close()


def test_close_runs_what_is_queued_and_later_calls_run_in_place() -> None:
    worker = Worker("test-worker")
    release = threading.Event()
    worker.submit(lambda: release.wait(10))
    queued = worker.submit(lambda: "queued")
    closing = threading.Thread(target=worker.close)
    closing.start()
    release.set()
    closing.join(10)
    assert queued.done()
    assert queued.result() == "queued"
    late = worker.submit(lambda: threading.current_thread().name)
    assert late.done()
    assert late.result() == threading.current_thread().name
