"""The event log in SQL, and a buffered sink that keeps writes off the request path."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from passgate.events import Event
from passgate.storage.db import write_lock
from passgate.storage.schema import events

__all__ = ["BufferedEventSink", "EventLog"]

logger = logging.getLogger("passgate.events")

_FIELDS = (
    "log_id",
    "date",
    "type",
    "description",
    "ip",
    "client_ip",
    "client_id",
    "client_name",
    "connection",
    "user_id",
    "user_name",
    "user_agent",
    "audience",
    "scope",
)


def _tuple(event: Event) -> tuple[Any, ...]:
    details = json.dumps(dict(event.details), default=str)
    return (*(getattr(event, name) for name in _FIELDS), details)


def _insert_sql(dialect: sa.Dialect) -> str:
    """The driver-level INSERT: for batches, SQLAlchemy's per-row parameter processing
    costs more than the insert itself."""
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    columns = (*_FIELDS, "details")
    return (
        f"INSERT INTO events ({', '.join(columns)}) "
        f"VALUES ({', '.join(placeholder for _ in columns)})"
    )


def _event(row: Any) -> Event:
    return Event(**{name: getattr(row, name) for name in _FIELDS}, details=json.loads(row.details))


class EventLog:
    """Reads and writes events; ``emit`` writes synchronously (the CLI uses it)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._insert = _insert_sql(engine.dialect)

    def emit(self, event: Event) -> None:
        self.append([event])

    def append(self, batch: Sequence[Event]) -> None:
        if batch:
            rows = [_tuple(event) for event in batch]
            with write_lock(self._engine), self._engine.begin() as db:
                db.exec_driver_sql(self._insert, rows)

    def recent(self, *, types: Sequence[str] = (), limit: int = 50) -> list[Event]:
        """Newest first."""
        statement = sa.select(events)
        if types:
            statement = statement.where(events.c.type.in_(list(types)))
        statement = statement.order_by(events.c.seq.desc()).limit(limit)
        with self._engine.connect() as db:
            return [_event(row) for row in db.execute(statement)]

    def get(self, log_id: str) -> Event | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(events).where(events.c.log_id == log_id)).first()
        return None if row is None else _event(row)


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

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get(timeout=self._interval if len(batch) < 2 else 0.001)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._log.append(batch)
            except Exception:
                logger.exception("could not write %d events", len(batch))
