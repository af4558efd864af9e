"""Readiness (``GET /ready``): can this process serve logins now?

``/health`` answers as long as the process runs; ``/ready`` checks the parts every login
needs, so that a load balancer stops sending traffic to an instance that would only
answer 503s:

``database``
    a one-row read of the SQL database (the users, and the counters unless Redis holds
    them);
``counters``
    with ``PASSGATE_REDIS_URL``, a ``PING`` to Redis. When it fails, the instance is
    *unavailable* under ``PASSGATE_REDIS_UNAVAILABLE=refuse`` (every login would get 503)
    and only *degraded* under ``fallback`` (logins count in the SQL database meanwhile);
``breached_index``
    a lookup in the breached-password index. Missing when ``PASSGATE_BREACHED_INDEX`` or
    the range endpoint asks for one: unavailable; deleted or replaced by a damaged file
    while the loaded one still answers: degraded. Without an index and without either
    setting nothing is checked.

Answers: ``200 {"status": "ready"}``; ``200 {"status": "degraded", "degraded": {part:
reason}}``; ``503 {"status": "unavailable", "reason": "part: reason; …", "failing":
{part: reason}}`` (plus ``degraded`` when some part is). Reasons are fixed phrases and
exception class names: never a URL, a host, a password or a driver's message.

The checks run in threads of their own, never on the event loop, and ``/ready`` waits for
them at most ``timeout_s`` (1 s): a hung Redis or database is reported as not answering
in time. A check still running is not started again (its thread is waited for instead),
and a finished one is reused for ``max_age_s`` (1 s), so a flood of ``/ready`` costs at
most one check of each part per second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from passgate.breached.checker import BreachedChecker
from passgate.settings import Settings

__all__ = ["Probe", "Readiness", "Verdict", "breached_probe", "database_probe", "redis_probe"]

State = Literal["ok", "degraded", "failing", "skipped"]


@dataclass(frozen=True)
class Verdict:
    """How one part is doing; ``reason`` is shown to anyone who asks ``/ready``."""

    state: State
    reason: str | None = None


OK = Verdict("ok")


@dataclass(frozen=True)
class Probe:
    """A named, blocking check of one part; an exception it raises means failing."""

    name: str
    check: Callable[[], Verdict]


class Readiness:
    """Runs the probes off the event loop, bounded in time, at most one at a time each.

    Each check runs in a daemon thread of its own: one hung on a dead server (a
    PostgreSQL query has no timeout of its own) holds that thread only, and never delays
    the process's exit.
    """

    def __init__(
        self, probes: Sequence[Probe], *, timeout_s: float = 1.0, max_age_s: float = 1.0
    ) -> None:
        self.probes = tuple(probes)
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._running: dict[str, Future[Verdict]] = {}
        self._done: dict[str, tuple[float, Verdict]] = {}

    async def check(self) -> tuple[int, dict[str, Any]]:
        """The status code and JSON body of ``/ready``."""
        futures = {probe.name: asyncio.wrap_future(self._start(probe)) for probe in self.probes}
        if futures:
            # asyncio.wait neither raises nor cancels: a hung check keeps its thread.
            await asyncio.wait(futures.values(), timeout=self.timeout_s)
        verdicts = {name: _outcome(future, self.timeout_s) for name, future in futures.items()}
        return answer(verdicts)

    def _start(self, probe: Probe) -> Future[Verdict]:
        """The probe's running check, a fresh result, or a new check."""
        now = time.monotonic()
        future: Future[Verdict] = Future()
        with self._lock:
            running = self._running.get(probe.name)
            if running is not None and not running.done():
                return running
            done = self._done.get(probe.name)
            if done is not None and now - done[0] < self.max_age_s:
                future.set_result(done[1])
                return future
            self._running[probe.name] = future
        name = f"passgate-ready-{probe.name}"
        threading.Thread(target=self._run, args=(probe, future), name=name, daemon=True).start()
        return future

    def _run(self, probe: Probe, future: Future[Verdict]) -> None:
        try:
            verdict = probe.check()
        except Exception as exc:
            verdict = Verdict("failing", f"check failed ({type(exc).__name__})")
        with self._lock:
            self._done[probe.name] = (time.monotonic(), verdict)
        future.set_result(verdict)


def _outcome(future: asyncio.Future[Verdict], timeout_s: float) -> Verdict:
    if not future.done():
        return Verdict("failing", f"no answer within {timeout_s:g} s")
    return future.result()


def answer(verdicts: dict[str, Verdict]) -> tuple[int, dict[str, Any]]:
    """``/ready``'s status code and body from the verdicts of the parts."""
    failing = {name: v.reason or "failing" for name, v in verdicts.items() if v.state == "failing"}
    degraded = {
        name: v.reason or "degraded" for name, v in verdicts.items() if v.state == "degraded"
    }
    if failing:
        body: dict[str, Any] = {
            "status": "unavailable",
            "reason": "; ".join(f"{name}: {reason}" for name, reason in failing.items()),
            "failing": failing,
        }
        if degraded:
            body["degraded"] = degraded
        return 503, body
    if degraded:
        return 200, {"status": "degraded", "degraded": degraded}
    return 200, {"status": "ready"}


# -- the probes ------------------------------------------------------------------------


def database_probe(engine: sa.Engine, *, table: str = "alembic_version") -> Probe:
    """One row of ``table`` (the migrations' own, present once the schema is)."""
    statement = sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)

    def check() -> Verdict:
        try:
            with engine.connect() as connection:
                connection.execute(statement).all()
        except sa.exc.SQLAlchemyError as exc:
            return Verdict("failing", f"query failed ({type(exc).__name__})")
        return OK

    return Probe("database", check)


def redis_probe(
    url: str, *, fallback: bool, timeout_s: float = 1.0
) -> tuple[Probe, Callable[[], None]]:
    """A ``PING`` on a client of its own (short timeouts, no retry); and how to close it.

    With ``fallback``, an unreachable Redis is degraded (logins count in SQL), not failing.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )

    def check() -> Verdict:
        try:
            client.ping()
        except redis.TimeoutError:
            problem = "Redis did not answer in time"
        except redis.AuthenticationError:
            problem = "Redis refused the credentials"
        except redis.ConnectionError:
            problem = "Redis is unreachable"
        except redis.RedisError as exc:
            problem = f"Redis refused ({type(exc).__name__})"
        else:
            return OK
        if fallback:
            return Verdict("degraded", f"{problem}; counting in the SQL database (fallback)")
        return Verdict(
            "failing", f"{problem}; logins are refused (PASSGATE_REDIS_UNAVAILABLE=refuse)"
        )

    return Probe("counters", check), client.close


def breached_probe(checker: BreachedChecker, *, required: bool) -> Probe:
    """A lookup in the current index. ``required``: an index was asked for (its path set
    explicitly, or the range endpoint on), so having none is failing, not skipped."""
    absent = b"\0" * 20

    def check() -> Verdict:
        index = checker.index
        if index is None:
            if required:
                return Verdict("failing", "no index loaded (passgate breached import makes one)")
            return Verdict("skipped")
        index.count(absent)
        problem = checker.live.problem if checker.live is not None else None
        return OK if problem is None else Verdict("degraded", problem)

    return Probe("breached_index", check)


def readiness_for(
    settings: Settings, engine: sa.Engine, checker: BreachedChecker
) -> tuple[Readiness, Callable[[], None]]:
    """What ``GET /ready`` checks: the database, Redis when configured, the breached index;
    and how to close what the checks opened."""
    probes = [database_probe(engine)]
    close: Callable[[], None] = lambda: None  # noqa: E731
    if settings.redis_url is not None:
        probe, close = redis_probe(
            settings.redis_url.get_secret_value(),
            fallback=settings.redis_unavailable == "fallback",
        )
        probes.append(probe)
    required = settings.breached_index is not None or settings.breached_range_enabled
    probes.append(breached_probe(checker, required=required))
    return Readiness(probes), close
