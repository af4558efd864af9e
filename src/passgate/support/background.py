"""Background threads: :class:`Worker` runs calls in order, for small jobs handed over on
every login; :class:`Periodic` runs one call at a fixed interval (maintenance).

``ThreadPoolExecutor.submit`` builds a future, a work item and a semaphore check per
call (~10 µs, several times that with cold caches); handing a call to a :class:`Worker`
is a queue put. :class:`Job` is the small result holder it returns.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Background", "Job", "Periodic", "Worker"]

logger = logging.getLogger("passgate.background")
T = TypeVar("T")


class Background(Protocol):
    """What a server process starts when it starts serving and stops when it stops."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...


class Job(Generic[T]):
    """The outcome of one call: its value or its exception, once :meth:`done`."""

    __slots__ = ("_error", "_fn", "_running", "_value")

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        # Held until the call has run (a bare lock: a threading.Event costs several times
        # more to make, and one is made per login).
        self._running = threading.Lock()
        self._running.acquire()
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:
            self._error = exc
        finally:
            self._running.release()

    def done(self) -> bool:
        return not self._running.locked()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._running.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._running.release()
        return True

    def result(self) -> T:
        """The value (or raise the exception); the job must be done."""
        if not self.done():
            raise RuntimeError("the job has not run yet")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Worker:
    """One daemon thread running submitted calls in submission order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Job[object] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T]) -> Job[T]:
        """Queue ``fn``; after :meth:`close`, run it in the caller's thread."""
        job = Job(fn)
        if self._closed:
            job.run()
        else:
            self._queue.put(job)  # type: ignore[arg-type]
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Run what is queued, then stop the thread."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run()
            if job._error is not None:
                logger.error("a background job failed", exc_info=job._error)


class Periodic:
    """Calls ``fn`` now and then every ``interval_s`` seconds in a daemon thread, until
    :meth:`stop`. A call that raises is logged as ``what`` failing; the next one runs on
    schedule."""

    def __init__(self, name: str, fn: Callable[[], object], *, interval_s: float, what: str):
        self._fn = fn
        self.interval_s = interval_s
        self._what = what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._fn()
            except Exception:
                logger.exception("%s failed", self._what)
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the call in progress, if any (waiting at most ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
