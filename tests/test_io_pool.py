"""``run_in_pool``: blocking work runs in the pool it is given and its answer (or its
error) reaches the awaiting coroutine, while the event loop goes on."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from passgate.support.io_pool import run_in_pool


def _where(a: int, *, b: int) -> tuple[int, str]:
    return a + b, threading.current_thread().name


def test_the_call_runs_in_the_given_pool_with_its_arguments() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="test-io") as pool:
        total, thread = asyncio.run(run_in_pool(pool, _where, 1, b=2))
    assert total == 3
    assert thread.startswith("test-io")


def test_without_a_pool_the_loops_default_executor_runs_it() -> None:
    total, thread = asyncio.run(run_in_pool(None, _where, 1, b=2))
    assert total == 3
    assert thread != threading.current_thread().name


def test_an_error_reaches_the_caller() -> None:
    def fail() -> None:
        raise LookupError("gone")

    with ThreadPoolExecutor(1) as pool, pytest.raises(LookupError, match="gone"):
        asyncio.run(run_in_pool(pool, fail))


def test_the_event_loop_runs_on_while_the_call_blocks() -> None:
    release = threading.Event()

    async def main() -> list[str]:
        seen: list[str] = []
        with ThreadPoolExecutor(1) as pool:
            blocked = asyncio.ensure_future(run_in_pool(pool, release.wait, 10))
            await asyncio.sleep(0)
            seen.append("loop ran")
            release.set()
            assert await blocked is True
        seen.append("call done")
        return seen

    assert asyncio.run(main()) == ["loop ran", "call done"]
