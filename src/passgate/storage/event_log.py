"""The event log in SQL, and a buffered sink that keeps writes off the request path.

Events are numbered (``seq``) in the order their writes commit, so that a reader who has
seen an event has seen every event numbered before it: checkpoint paging
(:mod:`passgate.storage.event_search`) relies on it. SQLite lets one writer in at a time;
on PostgreSQL, where numbers are drawn before commit, each write holds one transaction-level
advisory lock (:data:`WRITE_LOCK_KEY`) from before its rows are numbered until it commits.

An event is never lost for a long value: each string is cut to its column's length (read
from :mod:`~passgate.storage.schema`), ending in "…". One that still cannot be stored (its
details are not JSON, a value the driver cannot encode, a repeated ``log_id``) costs only
itself: it is logged by type and ``log_id``, never with its content, and the rest of its
batch is written.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from passgate.domain.events import EVENT_COLUMNS, Event
from passgate.errors import StorageError
from passgate.storage.db import DriverSql, write_lock
from passgate.storage.limits import max_length, shorten
from passgate.storage.schema import events

__all__ = [
    "WRITE_LOCK_KEY",
    "BufferedEventSink",
    "EventLog",
    "event_from_row",
    "write_lock_sql",
]

logger = logging.getLogger("passgate.events")

#: The PostgreSQL advisory lock that event writes take in turn ("pgevents" in ASCII).
WRITE_LOCK_KEY = 0x7067_6576_656E_7473
#: Events deleted per transaction by :meth:`EventLog.purge`, and the pause between them.
PURGE_BATCH = 1000
PURGE_PAUSE_S = 0.005

_FIELDS = EVENT_COLUMNS


#: The column of each field whose values are bounded (None for the others).
_BOUNDED = tuple(
    column if max_length(column) is not None else None for column in (events.c[n] for n in _FIELDS)
)


#: A NUL character as JSON writes it (not a literal backslash before "u0000"): PostgreSQL's
#: jsonb refuses it, so one such event would make every search on ``details`` fail.
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _row(event: Event) -> tuple[Any, ...]:
    """The INSERT's values: each bounded string shortened to fit (see :func:`shorten`).
    Raises ``TypeError`` when the details are not JSON (orjson's error is one)."""
    details = orjson.dumps(dict(event.details), default=str, option=orjson.OPT_NON_STR_KEYS)
    details = _JSON_NUL.sub(rb"\1\\ufffd", details)  # U+FFFD, the replacement character
    values = [
        getattr(event, name) if column is None else shorten(column, getattr(event, name))
        for name, column in zip(_FIELDS, _BOUNDED, strict=True)
    ]
    return (*values, details.decode())


def _dropped(event: Event, error: BaseException) -> None:
    """Log an event that could not be stored: its type and id, never its content (the
    driver's message names a column or a constraint, not values; see ``make_engine``)."""
    logger.error(
        "could not store a %s event %s: %s: %s",
        event.type,
        event.log_id,
        type(error).__name__,
        error,
    )


def write_lock_sql(dialect: sa.Dialect) -> str | None:
    """The statement that opens a write of events: on PostgreSQL, the advisory lock that
    makes writes number their rows in the order they commit (SQLite needs none)."""
    if dialect.name != "postgresql":
        return None
    return f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"


def _insert_sql(dialect: sa.Dialect) -> str:
    """The driver-level INSERT, with positional parameters: for batches, SQLAlchemy's
    per-row parameter processing (and named parameters) cost more than the insert."""
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = (*_FIELDS, "details")
    return (
        f"INSERT INTO events ({', '.join(columns)}) "
        f"VALUES ({', '.join(placeholder for _ in columns)})"
    )


def event_from_row(row: Any) -> Event:
    """The event a row of ``events`` holds."""
    return Event(**{name: getattr(row, name) for name in _FIELDS}, details=json.loads(row.details))


class EventLog:
    """Reads and writes events; ``emit`` writes synchronously (the CLI uses it)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._driver = DriverSql(engine, shared=False)
        self._insert = _insert_sql(engine.dialect)
        self._lock = write_lock_sql(engine.dialect)
        dbapi = engine.dialect.loaded_dbapi
        #: What one row can cause (a value refused, a text the driver cannot encode); a
        #: database that is unavailable raises something else, for the whole batch.
        self._row_errors: tuple[type[BaseException], ...] = (
            dbapi.IntegrityError,
            dbapi.DataError,
            UnicodeError,
        )

    def emit(self, event: Event) -> None:
        self.append([event])

    def _write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with write_lock(self._engine):
            self._driver.run_many(self._insert, rows, first=self._lock)

    def append(self, batch: Sequence[Event]) -> None:
        """Write ``batch`` in one transaction. An event that cannot be stored is logged
        and dropped; the others are written (one by one when the batch was refused).

        Raises the driver's error when the database is unavailable (nothing written)."""
        pending: list[tuple[Event, tuple[Any, ...]]] = []
        for event in batch:
            try:
                pending.append((event, _row(event)))
            except TypeError as exc:
                _dropped(event, exc)
        if not pending:
            return
        try:
            self._write([row for _, row in pending])
            return
        except self._row_errors as exc:
            if len(pending) == 1:
                _dropped(pending[0][0], exc)
                return
        for event, row in pending:
            try:
                self._write([row])
            except self._row_errors as exc:
                _dropped(event, exc)

    def purge(
        self, before: float, *, batch_size: int = PURGE_BATCH, pause_s: float = PURGE_PAUSE_S
    ) -> int:
        """Delete the events dated before ``before``; return how many went.

        ``batch_size`` rows per transaction, ``pause_s`` apart, so that a large backlog
        never holds the table (or SQLite's write lock) for long and logins' writes get in
        between batches.
        """
        oldest = sa.select(events.c.seq).where(events.c.date < before).limit(batch_size)
        statement = events.delete().where(events.c.seq.in_(oldest.scalar_subquery()))
        removed = 0
        try:
            while True:
                with write_lock(self._engine), self._engine.begin() as db:
                    deleted = int(db.execute(statement).rowcount)
                removed += deleted
                if deleted < batch_size:
                    return removed
                time.sleep(pause_s)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(
                f"cannot purge events (after {removed}): {type(exc).__name__}"
            ) from exc

    def recent(self, *, types: Sequence[str] = (), limit: int = 50) -> list[Event]:
        """Newest first; only ``types`` (all when empty)."""
        statement = sa.select(events).order_by(events.c.seq.desc()).limit(limit)
        if types:
            statement = statement.where(events.c.type.in_(list(types)))
        with self._engine.connect() as db:
            return [event_from_row(row) for row in db.execute(statement)]

    def get(self, log_id: str) -> Event | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(events).where(events.c.log_id == log_id)).first()
        return None if row is None else event_from_row(row)


class BufferedEventSink:
    """Queues events and writes them in batches from one background thread.

    A request never waits for the event write. ``close`` (called at shutdown) drains the
    queue; events of a process killed with SIGKILL in the last ~``interval`` seconds are
    lost, attack-protection state never is (it is written synchronously elsewhere).
    """

    def __init__(self, log: EventLog, *, interval: float = 0.05, max_batch: int = 500) -> None:
        self._log = log
        self._interval = interval
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="passgate-events", daemon=True)
        self._thread.start()

    def emit(self, event: Event) -> None:
        self._queue.put(event)

    def backlog(self) -> int:
        """Events handed over and not taken for writing yet (approximate)."""
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        full = False
        while True:
            first = self._queue.get()
            if first is None:
                return
            if not full:
                # Let a batch gather rather than wake up for each event: the wake-ups
                # (and the GIL taken back each time) cost more than the writes.
                time.sleep(self._interval)
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            full = len(batch) >= self._max_batch
            try:
                self._log.append(batch)
            except Exception:
                logger.exception("could not write %d events", len(batch))
            if stopping:
                return
