"""Attack-protection counters in the SQL database (SQLite in WAL mode, or PostgreSQL).

Each counter update is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING``
statement, which both SQLite (>= 3.35) and PostgreSQL execute atomically: PostgreSQL locks
the conflicting row and evaluates the ``WHERE`` on its newest version; SQLite runs one
writer at a time, across processes (the busy timeout set by ``db.make_engine`` makes the
others wait). The transactions here hold a single write statement, or a write followed by
a clean-up ``DELETE`` of rows that no longer hold any state, so SQLite never has to upgrade
a read snapshot to a write lock (which fails at once instead of waiting).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from passgate.errors import ConfigurationError, StorageError
from passgate.protection.brute_force import effective_failures
from passgate.protection.ip_throttle import after_consume
from passgate.protection.ip_throttle import has_token as gcra_has_token
from passgate.storage.counters import (
    BLOCK_SECONDS,
    DEFAULT_HOLD_SECONDS,
    GCRA_TOLERANCE_S,
    AttemptKey,
    BlockRecord,
    Reservation,
)
from passgate.storage.schema import ip_buckets, login_attempts, once_marks

__all__ = ["SqlCounters"]

_la = login_attempts
_ib = ip_buckets
_om = once_marks


@contextmanager
def _storage_errors(what: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"attack-protection counters: {what} failed: {exc}") from exc


class SqlCounters:
    """:class:`~passgate.storage.counters.AttackCounters` on a SQLAlchemy engine.

    The engine is the caller's (it is not disposed here); it must come from
    ``passgate.storage.db.make_engine`` so that SQLite runs in WAL mode with a busy timeout.
    """

    def __init__(self, engine: sa.Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"attack-protection counters need SQLite or PostgreSQL, not {engine.dialect.name}"
            )
        self._engine = engine

    # --- helpers -------------------------------------------------------------------

    def _upsert(
        self,
        table: sa.Table,
        values: Mapping[str, Any],
        *,
        index: list[sa.Column[Any]],
        set_: Mapping[str, Any],
        where: sa.ColumnElement[bool] | None,
        returning: sa.Column[Any],
    ) -> Any:
        """Run one atomic upsert; return the RETURNING value, or None when the ``where``
        refused the update."""
        if self._engine.dialect.name == "sqlite":
            lite = sqlite.insert(table).values(**values)
            stmt: sa.Executable = lite.on_conflict_do_update(
                index_elements=index, set_=dict(set_), where=where
            ).returning(returning)
        else:
            pg = postgresql.insert(table).values(**values)
            stmt = pg.on_conflict_do_update(
                index_elements=index, set_=dict(set_), where=where
            ).returning(returning)
        with self._engine.begin() as connection:
            return connection.execute(stmt).scalar_one_or_none()

    @staticmethod
    def _live_reserved(now: float) -> sa.ColumnElement[int]:
        return sa.case((_la.c.reserved_until > now, _la.c.reserved), else_=0)

    @staticmethod
    def _released(now: float) -> sa.ColumnElement[int]:
        """Live reservations minus one, never below zero."""
        live = sa.and_(_la.c.reserved_until > now, _la.c.reserved > 0)
        return sa.case((live, _la.c.reserved - 1), else_=0)

    @staticmethod
    def _counted_failures(now: float) -> sa.ColumnElement[int]:
        """``brute_force.effective_failures`` in SQL."""
        return sa.case((_la.c.last_failure + BLOCK_SECONDS > now, _la.c.failures), else_=0)

    @staticmethod
    def _holds_nothing(now: float) -> sa.ColumnElement[bool]:
        forgotten = sa.or_(_la.c.failures == 0, _la.c.last_failure + BLOCK_SECONDS <= now)
        idle = sa.or_(_la.c.reserved == 0, _la.c.reserved_until <= now)
        return sa.and_(forgotten, idle)

    # --- login attempts ------------------------------------------------------------

    def reserve_attempt(
        self,
        key: AttemptKey,
        *,
        max_attempts: int,
        now: float,
        hold_s: float = DEFAULT_HOLD_SECONDS,
    ) -> Reservation:
        counted = self._counted_failures(now)
        live = self._live_reserved(now)
        with _storage_errors("reserve_attempt"):
            failures = self._upsert(
                _la,
                {
                    "key": key.key,
                    "identifier": key.identifier,
                    "ip": key.ip,
                    "connection": key.connection,
                    "failures": 0,
                    "reserved": 1,
                    "reserved_until": now + hold_s,
                    "last_failure": 0.0,
                },
                index=[_la.c.key],
                set_={"failures": counted, "reserved": live + 1, "reserved_until": now + hold_s},
                where=(counted + live) < max_attempts,
                returning=_la.c.failures,
            )
            if failures is not None:
                return Reservation(allowed=True, failures=int(failures))
            # Refused: read the count for the caller's answer (informational only).
            return Reservation(allowed=False, failures=self.failures(key, now=now))

    def record_failure(self, key: AttemptKey, *, now: float, release: bool = True) -> int:
        reserved = self._released(now) if release else self._live_reserved(now)
        with _storage_errors("record_failure"):
            failures = self._upsert(
                _la,
                {
                    "key": key.key,
                    "identifier": key.identifier,
                    "ip": key.ip,
                    "connection": key.connection,
                    "failures": 1,
                    "reserved": 0,
                    "reserved_until": 0.0,
                    "last_failure": now,
                },
                index=[_la.c.key],
                set_={
                    "failures": self._counted_failures(now) + 1,
                    "last_failure": now,
                    "reserved": reserved,
                },
                where=None,
                returning=_la.c.failures,
            )
        return int(failures)

    def _release(self, key: AttemptKey, now: float, *, reset: bool, what: str) -> None:
        values: dict[str, Any] = {"reserved": self._released(now)}
        if reset:
            values.update(failures=0, last_failure=0.0)
        with _storage_errors(what), self._engine.begin() as connection:
            connection.execute(sa.update(_la).where(_la.c.key == key.key).values(**values))
            connection.execute(sa.delete(_la).where(_la.c.key == key.key, self._holds_nothing(now)))

    def record_success(self, key: AttemptKey, *, now: float) -> None:
        self._release(key, now, reset=True, what="record_success")

    def release(self, key: AttemptKey, *, now: float) -> None:
        self._release(key, now, reset=False, what="release")

    def failures(self, key: AttemptKey, *, now: float) -> int:
        query = sa.select(_la.c.failures, _la.c.last_failure).where(_la.c.key == key.key)
        with _storage_errors("failures"), self._engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        if row is None:
            return 0
        return effective_failures(int(row.failures), float(row.last_failure), now)

    # --- block administration ------------------------------------------------------

    def list_blocks(
        self,
        identifier: str | None,
        *,
        max_attempts: int,
        now: float,
        per_ip: bool | None = None,
    ) -> list[BlockRecord]:
        query = sa.select(
            _la.c.identifier, _la.c.ip, _la.c.connection, _la.c.failures, _la.c.last_failure
        ).where(_la.c.failures >= max_attempts, _la.c.last_failure + BLOCK_SECONDS > now)
        if identifier is not None:
            query = query.where(_la.c.identifier == identifier)
        if per_ip is True:
            query = query.where(_la.c.ip.is_not(None))
        elif per_ip is False:
            query = query.where(_la.c.ip.is_(None))
        with _storage_errors("list_blocks"), self._engine.connect() as connection:
            rows = connection.execute(query).all()
        records = [
            BlockRecord(
                identifier=row.identifier,
                ip=row.ip,
                connection=row.connection,
                failures=int(row.failures),
                last_failure=float(row.last_failure),
            )
            for row in rows
        ]
        records.sort(key=lambda r: (r.identifier, r.connection, r.ip or ""))
        return records

    def remove_blocks(
        self, identifier: str, ip: str | None = None, *, connection: str | None = None
    ) -> int:
        match = [_la.c.identifier == identifier]
        if ip is not None:
            match.append(_la.c.ip == ip)
        if connection is not None:
            match.append(_la.c.connection == connection)
        with _storage_errors("remove_blocks"), self._engine.begin() as db:
            result = db.execute(
                sa.update(_la)
                .where(*match, _la.c.failures > 0)
                .values(failures=0, last_failure=0.0)
            )
            db.execute(sa.delete(_la).where(*match, _la.c.failures == 0, _la.c.reserved == 0))
        return int(result.rowcount)

    def reset_identifier(self, identifier: str) -> int:
        return self.remove_blocks(identifier)

    # --- IP buckets ----------------------------------------------------------------

    def take_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        empty_at = now + capacity * rate_s  # the tat of an empty bucket
        base = sa.case((_ib.c.tat > now, _ib.c.tat), else_=sa.literal(now, sa.Float))
        consumed = sa.case((base + rate_s < empty_at, base + rate_s), else_=empty_at)
        with _storage_errors("take_token"):
            tat = self._upsert(
                _ib,
                {"ip": ip, "stage": stage, "tat": after_consume(None, now, capacity, rate_s)},
                index=[_ib.c.ip, _ib.c.stage],
                set_={"tat": consumed},
                where=base + rate_s <= empty_at + GCRA_TOLERANCE_S,
                returning=_ib.c.tat,
            )
        return tat is not None

    def bucket_tat(self, ip: str, stage: str) -> float | None:
        query = sa.select(_ib.c.tat).where(_ib.c.ip == ip, _ib.c.stage == stage)
        with _storage_errors("bucket_tat"), self._engine.connect() as connection:
            tat = connection.execute(query).scalar_one_or_none()
        return None if tat is None else float(tat)

    def has_token(self, ip: str, stage: str, *, capacity: int, rate_s: float, now: float) -> bool:
        return gcra_has_token(self.bucket_tat(ip, stage), now, capacity, rate_s)

    def refill(self, ip: str) -> bool:
        with _storage_errors("refill"), self._engine.begin() as connection:
            result = connection.execute(sa.delete(_ib).where(_ib.c.ip == ip))
        return bool(result.rowcount)

    # --- once marks ----------------------------------------------------------------

    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        with _storage_errors("once"):
            marked = self._upsert(
                _om,
                {"key": key, "until": now + ttl_s},
                index=[_om.c.key],
                set_={"until": now + ttl_s},
                where=_om.c.until <= now,
                returning=_om.c.key,
            )
        return marked is not None

    # --- maintenance ---------------------------------------------------------------

    def purge(self, now: float) -> int:
        """Delete rows that no longer hold state (forgotten failures and no live
        reservation, full buckets, expired marks); return how many. Safe at any time."""
        with _storage_errors("purge"), self._engine.begin() as connection:
            removed = connection.execute(sa.delete(_la).where(self._holds_nothing(now))).rowcount
            removed += connection.execute(sa.delete(_ib).where(_ib.c.tat <= now)).rowcount
            removed += connection.execute(sa.delete(_om).where(_om.c.until <= now)).rowcount
        return int(removed)
