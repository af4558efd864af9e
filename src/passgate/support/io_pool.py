"""The one way async code hands blocking work to a thread pool and waits for it.

Anything a request waits on that touches a database, a file, a key or a hash must not run
on the event loop: one slow call there stalls every other request of the process. The
composition root owns two pools (``passgate-hash`` for password hashing, ``passgate-io``
for the rest); services and routes receive a pool, or :class:`RunIo` bound to one, and go
through :func:`run_in_pool`, so there is a single place that says how it is done.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, ParamSpec, Protocol, TypeVar

__all__ = ["RunIo", "run_in_pool"]

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_pool(
    pool: Executor | None, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run ``fn(*args, **kwargs)`` in ``pool`` (the loop's default executor when None)
    and return its answer, or raise what it raised, without blocking the event loop.

    Cancelling the awaiting task does not stop the call: it runs to its end in its thread.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, functools.partial(fn, *args, **kwargs))


class RunIo(Protocol):
    """:func:`run_in_pool` bound to the server's I/O pool (``Passgate.run_io``): what a
    route factory takes to do its blocking work."""

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...
