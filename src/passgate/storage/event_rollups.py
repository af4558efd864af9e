"""The attack dashboard's aggregates, kept up to date from the event log.

:meth:`EventRollups.roll` reads the events after the cursor (``rollup_cursors``, row
"events") in batches, in ``seq`` order, sums each batch (:class:`~passgate.domain.rollups.
Tally`) and adds the sums to ``rollup_hourly``, ``rollup_ips`` and ``rollup_accounts`` in
the same transaction that moves the cursor past the batch. The move is a compare-and-set
(``UPDATE … WHERE seq = <where the batch began>``) taken before the counts are added:
when several workers or instances roll at once, one wins each batch and the others'
updates find the cursor moved and add nothing. A process killed mid-batch leaves the
transaction uncommitted: neither counts nor cursor moved, the next roll counts the batch
once. Numbers are given to events in commit order (``storage/event_log``), so no event
numbered below the cursor can appear later.

The counts of distinct accounts and IPs per hour (``failed_accounts``, ``failed_ips``,
``signup_ips``) are added when an hour's row for that account or IP first gets a count;
only the cursor's winner writes these tables, so the check and the write are one step.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from passgate.domain.rollups import ACCOUNT_FIELDS, DAY_HOURS, IP_FIELDS, Tally
from passgate.errors import StorageError
from passgate.storage.db import write_lock
from passgate.storage.schema import (
    events,
    rollup_accounts,
    rollup_cursors,
    rollup_hourly,
    rollup_ips,
)

__all__ = ["BATCH_SIZE", "CURSOR", "EventRollups", "Rolled"]

#: The cursor's row.
CURSOR = "events"
#: Events read and counted per transaction.
BATCH_SIZE = 5000
#: Keys per ``IN (…)`` list (SQLite's parameter limit is far above).
_CHUNK = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Rolled:
    """What one :meth:`EventRollups.roll` counted: events, and the hours they touched."""

    events: int = 0
    hours: frozenset[int] = frozenset()
    #: The cursor after it (the last event counted by anyone).
    seq: int = 0


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_day(
    per_hour: Mapping[tuple[int, str], Mapping[str, int]],
) -> dict[tuple[int, str], dict[str, int]]:
    days: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (hour, key), counts in per_hour.items():
        day = days[hour // DAY_HOURS * DAY_HOURS, key]
        for name, count in counts.items():
            day[name] += count
    return days


class EventRollups:
    """Rolls the event log up into the aggregates (blocking; any thread)."""

    def __init__(self, engine: sa.Engine, *, batch_size: int = BATCH_SIZE) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._postgres = engine.dialect.name == "postgresql"

    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    # -- the cursor ----------------------------------------------------------------
    def cursor(self) -> tuple[int, float]:
        """Where the rollup stands: the last event counted and when it moved (0, 0.0
        before the first roll)."""
        query = sa.select(rollup_cursors.c.seq, rollup_cursors.c.updated_at).where(
            rollup_cursors.c.name == CURSOR
        )
        try:
            with self._engine.connect() as db:
                row = db.execute(query).first()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the rollup cursor: {type(exc).__name__}") from exc
        return (0, 0.0) if row is None else (int(row.seq), float(row.updated_at))

    def pending(self) -> int:
        """How many events are numbered after the cursor (an upper bound of those not yet
        counted: numbers of rolled-back writes are never used)."""
        seq, _ = self.cursor()
        try:
            with self._engine.connect() as db:
                newest = db.execute(sa.select(sa.func.max(events.c.seq))).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event log: {type(exc).__name__}") from exc
        return max(0, int(newest or 0) - seq)

    # -- rolling -------------------------------------------------------------------
    def roll(self, *, now: float, max_batches: int = 100) -> Rolled:
        """Count the events after the cursor, at most ``max_batches`` batches; return what
        this call counted (another process may have counted the rest)."""
        counted = 0
        hours: set[int] = set()
        seq = 0
        for _ in range(max_batches):
            done, batch_hours, seq, more = self._one_batch(now)
            counted += done
            hours |= batch_hours
            if not more:
                break
        return Rolled(events=counted, hours=frozenset(hours), seq=seq)

    def _one_batch(self, now: float) -> tuple[int, set[int], int, bool]:
        """One batch: (events counted here, hours touched, cursor after, more to read)."""
        start, moved_at = self.cursor()
        if start == 0 and moved_at == 0.0:
            self._ensure_cursor()
        columns = (
            events.c.seq,
            events.c.date,
            events.c.type,
            events.c.ip,
            events.c.user_name,
            events.c.user_id,
            # only a failed password exchange's details are read (for its error)
            sa.case((events.c.type == "fepft", events.c.details), else_=None).label("details"),
        )
        query = (
            sa.select(*columns)
            .where(events.c.seq > start)
            .order_by(events.c.seq)
            .limit(self._batch_size)
        )
        try:
            with self._engine.connect() as db:
                rows = db.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event log: {type(exc).__name__}") from exc
        if not rows:
            return 0, set(), start, False
        tally = Tally()
        for row in rows:
            tally.add(
                kind=row.type,
                date=row.date,
                ip=row.ip,
                user_name=row.user_name,
                user_id=row.user_id,
                details=row.details,
            )
        end = int(rows[-1].seq)
        full = len(rows) >= self._batch_size
        try:
            with write_lock(self._engine), self._engine.begin() as db:
                moved = db.execute(
                    rollup_cursors.update()
                    .where(rollup_cursors.c.name == CURSOR, rollup_cursors.c.seq == start)
                    .values(seq=end, updated_at=now)
                ).rowcount
                if moved != 1:  # another process counted this batch meanwhile
                    return 0, set(), start, True
                self._add(db, tally)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot store the event rollups: {type(exc).__name__}") from exc
        return len(rows), tally.hours(), end, full

    def _ensure_cursor(self) -> None:
        """Create the cursor row (at 0) unless it is there (the migration makes it)."""
        statement = (
            self._insert(rollup_cursors)
            .values(name=CURSOR, seq=0, updated_at=0.0)
            .on_conflict_do_nothing()
        )
        try:
            with write_lock(self._engine), self._engine.begin() as db:
                db.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot make the rollup cursor: {type(exc).__name__}") from exc

    def _add(self, db: sa.Connection, tally: Tally) -> None:
        metrics: dict[tuple[int, str], int] = defaultdict(int, tally.metrics)
        new_ips = self._first_seen(db, rollup_ips, rollup_ips.c.ip, tally.ips)
        for (hour, _), fields in new_ips.items():
            if "failed_logins" in fields:
                metrics[hour, "failed_ips"] += 1
            if "signups" in fields:
                metrics[hour, "signup_ips"] += 1
        new_accounts = self._first_seen(
            db, rollup_accounts, rollup_accounts.c.account, tally.accounts
        )
        for (hour, _), fields in new_accounts.items():
            if "failed_logins" in fields:
                metrics[hour, "failed_accounts"] += 1
        if metrics:
            statement = self._insert(rollup_hourly)
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[rollup_hourly.c.hour, rollup_hourly.c.metric],
                    set_={"count": rollup_hourly.c.count + statement.excluded["count"]},
                ),
                [
                    {"hour": hour, "metric": metric, "count": count}
                    for (hour, metric), count in sorted(metrics.items())
                ],
            )
        self._upsert(db, rollup_ips, "ip", IP_FIELDS, tally.ips)
        self._upsert(db, rollup_accounts, "account", ACCOUNT_FIELDS, tally.accounts)

    def _first_seen(
        self,
        db: sa.Connection,
        table: sa.Table,
        key: sa.Column[str],
        per_hour: Mapping[tuple[int, str], Mapping[str, int]],
    ) -> dict[tuple[int, str], set[str]]:
        """For each (hour, key) of ``per_hour``: the fields whose hourly count goes from
        none to some with this batch (so the key is a new distinct one for that field)."""
        wanted = ("failed_logins", "signups") if "signups" in table.c else ("failed_logins",)
        had: dict[tuple[int, str], dict[str, int]] = {}
        by_hour: dict[int, list[str]] = defaultdict(list)
        for hour, name in per_hour:
            by_hour[hour].append(name)
        for hour, names in by_hour.items():
            for chunk in _chunks(sorted(names)):
                query = sa.select(key, *(table.c[f] for f in wanted)).where(
                    table.c.width == 1, table.c.bucket == hour, key.in_(list(chunk))
                )
                for row in db.execute(query):
                    had[hour, row[0]] = {f: int(row[i + 1]) for i, f in enumerate(wanted)}
        fresh: dict[tuple[int, str], set[str]] = {}
        for pair, counts in per_hour.items():
            before = had.get(pair, {})
            fields = {f for f in wanted if counts.get(f, 0) > 0 and before.get(f, 0) == 0}
            if fields:
                fresh[pair] = fields
        return fresh

    def _upsert(
        self,
        db: sa.Connection,
        table: sa.Table,
        key: str,
        fields: Sequence[str],
        per_hour: Mapping[tuple[int, str], Mapping[str, int]],
    ) -> None:
        rows: list[dict[str, Any]] = []
        for width, counts in ((1, per_hour), (DAY_HOURS, _by_day(per_hour))):
            for (bucket, name), values in sorted(counts.items()):
                row: dict[str, Any] = {"width": width, "bucket": bucket, key: name}
                row.update({f: values.get(f, 0) for f in fields})
                row["total"] = sum(values.get(f, 0) for f in fields)
                rows.append(row)
        if not rows:
            return
        statement = self._insert(table)
        added = {f: table.c[f] + statement.excluded[f] for f in (*fields, "total")}
        db.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.width, table.c.bucket, table.c[key]], set_=added
            ),
            rows,
        )

    # -- upkeep --------------------------------------------------------------------
    def purge(self, before_hour: int) -> int:
        """Delete the aggregates of hours (and days) before ``before_hour``."""
        removed = 0
        try:
            with write_lock(self._engine), self._engine.begin() as db:
                removed += db.execute(
                    rollup_hourly.delete().where(rollup_hourly.c.hour < before_hour)
                ).rowcount
                for table in (rollup_ips, rollup_accounts):
                    removed += db.execute(
                        table.delete().where(table.c.bucket + table.c.width <= before_hour)
                    ).rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot purge the event rollups: {type(exc).__name__}") from exc
        return int(removed)

    # -- reading -------------------------------------------------------------------
    def hourly(self, first_hour: int, last_hour: int) -> dict[tuple[int, str], int]:
        """Every hourly count of the hours in [``first_hour``, ``last_hour``]."""
        h = rollup_hourly.c
        query = sa.select(h.hour, h.metric, h.count).where(
            h.hour >= first_hour, h.hour <= last_hour
        )
        try:
            with self._engine.connect() as db:
                return {(int(hour), str(metric)): int(n) for hour, metric, n in db.execute(query)}
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event rollups: {type(exc).__name__}") from exc

    def top(
        self, kind: str, *, width: int, first: int, last: int, limit: int
    ) -> list[dict[str, Any]]:
        """The ``limit`` IPs (``kind`` "ip") or accounts ("account") with the most counted
        events in the buckets of ``width`` hours from ``first`` to ``last`` (their first
        hours), most first (ties by name); each with its counts summed.

        Two queries: the top keys by their summed ``total``, read from the covering index
        (width, key, bucket, total) alone, then the other counts of those few keys."""
        table, fields = (
            (rollup_ips, IP_FIELDS) if kind == "ip" else (rollup_accounts, ACCOUNT_FIELDS)
        )
        key = table.c[kind]
        in_window = (table.c.width == width, table.c.bucket >= first, table.c.bucket <= last)
        total = sa.func.sum(table.c.total).label("total")
        ranking = (
            sa.select(key, total)
            .where(*in_window)
            .group_by(key)
            .order_by(total.desc(), key)
            .limit(limit)
        )
        try:
            with self._engine.connect() as db:
                leaders = [str(row[0]) for row in db.execute(ranking)]
                if not leaders:
                    return []
                details = (
                    sa.select(key, *(sa.func.sum(table.c[f]).label(f) for f in fields), total)
                    .where(*in_window, key.in_(leaders))
                    .group_by(key)
                )
                found = {
                    str(row[kind]): {f: int(row[f]) for f in (*fields, "total")}
                    for row in db.execute(details).mappings()
                }
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event rollups: {type(exc).__name__}") from exc
        return [{kind: name, **found[name]} for name in leaders]
