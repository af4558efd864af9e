"""``Worker``: calls run in order on one thread; results and errors reach the caller.
``Periodic``: one call on a schedule, surviving its failures, stopped on demand."""

from __future__ import annotations

import functools
import logging
import threading
import time

import pytest

from passgate.support.background import Job, Periodic, Worker


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


def test_periodic_calls_now_then_every_interval_until_stopped() -> None:
    calls: list[str] = []
    three = threading.Event()

    def tick() -> None:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            three.set()

    periodic = Periodic("test-periodic", tick, interval_s=0.05, what="ticking")
    periodic.start()
    assert three.wait(10)
    periodic.stop()
    stopped_at = len(calls)
    time.sleep(0.3)
    assert len(calls) == stopped_at  # nothing runs after stop()
    assert set(calls) == {"test-periodic"}


def test_a_failing_periodic_call_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[str] = []
    recovered = threading.Event()

    def flaky() -> None:
        if not outcomes:
            outcomes.append("failed")
            raise RuntimeError("database went away")
        outcomes.append("ran")
        recovered.set()

    periodic = Periodic("test-periodic", flaky, interval_s=0.05, what="purging")
    with caplog.at_level(logging.ERROR, logger="passgate.background"):
        periodic.start()
        assert recovered.wait(10)
        periodic.stop()
    assert outcomes[:2] == ["failed", "ran"]
    assert [record.getMessage() for record in caplog.records] == ["purging failed"]
    assert "database went away" in caplog.text
