"""Log streams in SQL: their settings (for the Management API) and their delivery state
(for the deliverer), in one row each.

Settings and delivery state are separate columns, so an administrator's change and a
delivery never overwrite each other. Every delivery write is fenced by the lease: it
changes the row only while the process that writes holds the stream
(``lease_owner = me``), and the cursor only moves from where that process read it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from passgate.domain.log_streams import DeliveryState, LogStream
from passgate.storage.schema import events, log_streams

__all__ = ["LogStreams", "new_stream_id"]

_last_stamp = 0
_stamp_lock = threading.Lock()

_SETTINGS = (
    "name",
    "status",
    "filters",
    "endpoint",
    "content_type",
    "content_format",
    "authorization_sealed",
    "authorization_kek_id",
)


def new_stream_id(now: float) -> str:
    """``lst_`` then the time in milliseconds and 24 random bits, all hex: streams sort by
    creation."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(int(now * 1000), _last_stamp + 1)
        stamp = _last_stamp
    return f"lst_{stamp:011x}{secrets.token_hex(3)}"


def _stream(row: Any) -> LogStream:
    return LogStream(
        id=row.id,
        name=row.name,
        type=row.type,
        status=row.status,
        filters=tuple(json.loads(row.filters)),
        endpoint=row.endpoint,
        content_type=row.content_type,
        content_format=row.content_format,
        authorization_sealed=row.authorization_sealed,
        authorization_kek_id=row.authorization_kek_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivery=DeliveryState(
            cursor_seq=row.cursor_seq,
            cursor_log_id=row.cursor_log_id,
            lease_owner=row.lease_owner,
            lease_until=row.lease_until,
            failures=row.failures,
            failing_since=row.failing_since,
            retry_at=row.retry_at,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
        ),
    )


def _settings_values(stream: LogStream) -> dict[str, Any]:
    values = {name: getattr(stream, name) for name in _SETTINGS}
    values["filters"] = json.dumps(list(stream.filters))
    return values


class LogStreams:
    """The ``log_streams`` table. Every method is blocking."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    # -- settings (the Management API) --------------------------------------------------

    def create(self, stream: LogStream) -> LogStream:
        """Store ``stream``; it starts after the newest event committed so far (a new
        stream delivers what happens from now on, as Auth0's do)."""
        with self._engine.begin() as db:
            end = db.execute(sa.select(sa.func.max(events.c.seq))).scalar()
            last = (
                db.execute(sa.select(events.c.log_id).where(events.c.seq == end)).scalar()
                if end is not None
                else None
            )
            db.execute(
                log_streams.insert().values(
                    id=stream.id,
                    type=stream.type,
                    created_at=stream.created_at,
                    updated_at=stream.updated_at,
                    cursor_seq=int(end or 0),
                    cursor_log_id=last,
                    lease_until=0.0,
                    failures=0,
                    retry_at=0.0,
                    **_settings_values(stream),
                )
            )
        created = self.get(stream.id)
        assert created is not None
        return created

    def get(self, stream_id: str) -> LogStream | None:
        with self._engine.connect() as db:
            row = db.execute(sa.select(log_streams).where(log_streams.c.id == stream_id)).first()
        return None if row is None else _stream(row)

    def all(self) -> list[LogStream]:
        """Every stream, oldest first."""
        statement = sa.select(log_streams).order_by(log_streams.c.created_at, log_streams.c.id)
        with self._engine.connect() as db:
            return [_stream(row) for row in db.execute(statement)]

    def count(self) -> int:
        with self._engine.connect() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(log_streams)).scalar_one())

    def update(self, stream: LogStream, *, resumed: bool = False) -> LogStream | None:
        """Store ``stream``'s settings (not its delivery state); with ``resumed``, forget
        its failures so that it is tried at once. None when it was deleted meanwhile."""
        values = _settings_values(stream)
        values["updated_at"] = stream.updated_at
        if resumed:
            values.update(failures=0, failing_since=None, retry_at=0.0, last_error=None)
        with self._engine.begin() as db:
            changed = db.execute(
                log_streams.update().where(log_streams.c.id == stream.id).values(**values)
            ).rowcount
        return self.get(stream.id) if changed else None

    def delete(self, stream_id: str) -> bool:
        with self._engine.begin() as db:
            statement = log_streams.delete().where(log_streams.c.id == stream_id)
            return bool(db.execute(statement).rowcount)

    def reseal(self, change: Callable[[LogStream], tuple[str, str] | None]) -> int:
        """Replace each stream's sealed authorization by what ``change`` makes of it
        (``(sealed, kek_id)``; None: leave it), in one transaction; return how many changed.
        A stream whose authorization changed meanwhile is left as it is now."""
        changed = 0
        with self._engine.begin() as db:
            rows = db.execute(
                sa.select(log_streams).where(log_streams.c.authorization_sealed.is_not(None))
            ).all()
            for row in rows:
                made = change(_stream(row))
                if made is None:
                    continue
                sealed, kek_id = made
                changed += db.execute(
                    log_streams.update()
                    .where(
                        log_streams.c.id == row.id,
                        log_streams.c.authorization_sealed == row.authorization_sealed,
                    )
                    .values(authorization_sealed=sealed, authorization_kek_id=kek_id)
                ).rowcount
        return changed

    # -- delivery (the deliverer) -------------------------------------------------------

    def deliverable(self, now: float) -> list[LogStream]:
        """The active streams due for a try (not waiting for a retry), oldest first."""
        statement = (
            sa.select(log_streams)
            .where(log_streams.c.status == "active", log_streams.c.retry_at <= now)
            .order_by(log_streams.c.created_at, log_streams.c.id)
        )
        with self._engine.connect() as db:
            return [_stream(row) for row in db.execute(statement)]

    def claim(self, stream_id: str, owner: str, *, now: float, ttl_s: float) -> LogStream | None:
        """Take or renew the lease on an active stream for ``ttl_s`` seconds: granted when
        nobody holds it, ``owner`` does, or the holder's lease ran out. The stream as it is
        now when granted, else None."""
        lease = log_streams.c
        statement = (
            log_streams.update()
            .where(
                lease.id == stream_id,
                lease.status == "active",
                sa.or_(
                    lease.lease_owner.is_(None),
                    lease.lease_owner == owner,
                    lease.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=now + ttl_s)
        )
        with self._engine.begin() as db:
            if not db.execute(statement).rowcount:
                return None
            row = db.execute(sa.select(log_streams).where(lease.id == stream_id)).first()
        return None if row is None else _stream(row)

    def release(self, stream_id: str, owner: str) -> None:
        """Give the lease up (at shutdown), so that another process takes over at once."""
        with self._engine.begin() as db:
            db.execute(
                log_streams.update()
                .where(log_streams.c.id == stream_id, log_streams.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=0.0)
            )

    def advance(
        self,
        stream_id: str,
        owner: str,
        *,
        from_seq: int,
        to_seq: int,
        log_id: str | None,
        delivered_at: float | None,
    ) -> bool:
        """Move the cursor from ``from_seq`` to ``to_seq`` (the last event handled, its
        ``log_id``), forgetting failures; ``delivered_at`` when events were sent. False
        when ``owner`` lost the stream or the cursor moved meanwhile (nothing changed)."""
        values: dict[str, Any] = {
            "cursor_seq": to_seq,
            "cursor_log_id": log_id,
            "failures": 0,
            "failing_since": None,
            "retry_at": 0.0,
            "last_error": None,
        }
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        with self._engine.begin() as db:
            return bool(
                db.execute(
                    log_streams.update()
                    .where(
                        log_streams.c.id == stream_id,
                        log_streams.c.lease_owner == owner,
                        log_streams.c.cursor_seq == from_seq,
                    )
                    .values(**values)
                ).rowcount
            )

    def failed(
        self,
        stream_id: str,
        owner: str,
        *,
        failures: int,
        failing_since: float,
        retry_at: float,
        error: str,
        suspend: bool,
    ) -> bool:
        """Record a failed delivery: the count, since when it fails, when to try again, why
        (a short text without secrets); ``suspend`` makes the stream ``suspended``."""
        values: dict[str, Any] = {
            "failures": failures,
            "failing_since": failing_since,
            "retry_at": retry_at,
            "last_error": error[:300],
        }
        if suspend:
            values.update(status="suspended", lease_owner=None, lease_until=0.0)
        with self._engine.begin() as db:
            return bool(
                db.execute(
                    log_streams.update()
                    .where(
                        log_streams.c.id == stream_id,
                        log_streams.c.lease_owner == owner,
                        log_streams.c.status == "active",
                    )
                    .values(**values)
                ).rowcount
            )

    def events_after(self, seq: int, *, limit: int) -> tuple[list[Any], int]:
        """The events numbered past ``seq``, oldest first, at most ``limit`` (rows with
        the columns of ``events``), and the newest number in the log (0 when empty)."""
        with self._engine.connect() as db:
            end = int(db.execute(sa.select(sa.func.max(events.c.seq))).scalar() or 0)
            if end <= seq:
                return [], end
            rows = db.execute(
                sa.select(events)
                .where(events.c.seq > seq, events.c.seq <= end)
                .order_by(events.c.seq)
                .limit(limit)
            ).all()
        return list(rows), end

    def restart(self, stream_id: str, owner: str, *, from_seq: int) -> bool:
        """Start the cursor over (the event log was emptied and is numbered anew)."""
        with self._engine.begin() as db:
            return bool(
                db.execute(
                    log_streams.update()
                    .where(
                        log_streams.c.id == stream_id,
                        log_streams.c.lease_owner == owner,
                        log_streams.c.cursor_seq == from_seq,
                    )
                    .values(cursor_seq=0, cursor_log_id=None)
                ).rowcount
            )
