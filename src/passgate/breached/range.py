"""``GET /range/{prefix}``: the corpus served like the Pwned Passwords range API.

Compatible with ``https://api.pwnedpasswords.com/range/{prefix}``:

- ``prefix`` is exactly 5 hex digits, either case; anything else is a 400;
- the body is ``text/plain``, one upper-case ``SUFFIX:COUNT`` line per hash whose SHA-1
  starts with the prefix (35 hex digits, exact count), lines separated by CRLF;
- with the request header ``Add-Padding: true``, random suffixes with count 0 are added
  to make between 800 and 1000 lines in all (a random total per answer), and the lines
  are sorted, so neither size nor order tells real lines from padding.

The answers come from the range companion of the index (``import --with-range``; the
index alone keeps too few bits, see :mod:`passgate.breached.index`); without it every
request is a 404 saying so. Whether the route is mounted at all is the caller's decision
(setting ``breached_range_enabled``). Given a function returning the current index (the
server's :class:`~passgate.breached.live.LiveIndex`), each answer comes from the index of
the moment, so a new import is served as soon as it is swapped in. Answers are made off
the event loop (the index is memory-mapped: a read may wait for the disk).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from passgate.breached.errors import BreachedRangeUnavailable
from passgate.breached.index import BreachedIndex

__all__ = ["PADDING_MAX", "PADDING_MIN", "range_routes", "render_range"]

PADDING_MIN = 800
PADDING_MAX = 1000
_PREFIX = re.compile(r"[0-9A-Fa-f]{5}")
BAD_PREFIX_MESSAGE = "The hash prefix was not in a valid format"
#: Runs a blocking call off the event loop and returns its result.
Run = Callable[[Callable[[], Response]], Awaitable[Response]]


def render_range(lines: list[tuple[str, int]], *, padding: bool) -> str:
    """The body of a range answer; with ``padding``, count-0 lines up to 800-1000 lines."""
    entries = [f"{suffix}:{count}" for suffix, count in lines]
    if padding:
        target = PADDING_MIN + secrets.randbelow(PADDING_MAX - PADDING_MIN + 1)
        taken = {suffix for suffix, _ in lines}
        while len(entries) < target:
            missing = target - len(entries)
            text = os.urandom(18 * missing).hex().upper()
            for i in range(missing):
                suffix = text[36 * i : 36 * i + 35]
                if suffix not in taken:
                    taken.add(suffix)
                    entries.append(f"{suffix}:0")
    entries.sort()
    return "\r\n".join(entries)


def range_routes(
    index: BreachedIndex | Callable[[], BreachedIndex | None],
    *,
    path: str = "/range/{prefix}",
    run: Run | None = None,
) -> list[Route]:
    """The route serving ``GET {path}`` from ``index`` (which must stay open), or from
    whatever index ``index()`` returns at each request. Each answer is made by ``run``
    (the server's I/O pool), by default in Starlette's thread pool."""
    current = (lambda: index) if isinstance(index, BreachedIndex) else index
    offload: Run = run or run_in_threadpool

    async def range_endpoint(request: Request) -> Response:
        prefix = request.path_params["prefix"]
        if not _PREFIX.fullmatch(prefix):
            return PlainTextResponse(BAD_PREFIX_MESSAGE, status_code=400)
        padding = request.headers.get("add-padding", "").strip().lower() == "true"
        return await offload(functools.partial(_answer, current(), prefix.upper(), padding))

    return [Route(path, range_endpoint, methods=["GET"], name="breached_range")]


def _answer(index: BreachedIndex | None, prefix: str, padding: bool) -> Response:
    """The answer for ``prefix`` (blocking: it reads the mapped range file)."""
    try:
        if index is None:
            raise BreachedRangeUnavailable("no index")
        lines = index.range(prefix)
    except BreachedRangeUnavailable:
        return PlainTextResponse(
            "No range data: import the breached-password corpus with --with-range.",
            status_code=404,
        )
    return PlainTextResponse(render_range(lines, padding=padding))
