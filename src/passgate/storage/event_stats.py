"""Counting events by type and day, for the Management API's ``stats`` endpoints.

Both queries read the ``events (type, date, user_id)`` index only: a range of it per type,
never the rows themselves, so their cost follows the events counted, not the log's size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import sqlalchemy as sa

from passgate.storage.schema import events

__all__ = ["DayCount", "EventStats"]

DAY_S = 86400


@dataclasses.dataclass(frozen=True, slots=True)
class DayCount:
    """How many events of ``type`` on day ``day`` (days since 1970-01-01, UTC), and the
    first and last of them."""

    type: str
    day: int
    count: int
    first: float
    last: float


class EventStats:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _day(self) -> sa.ColumnElement[int]:
        if self._engine.dialect.name == "postgresql":
            return sa.cast(sa.func.floor(events.c.date / DAY_S), sa.Integer)
        # SQLite truncates toward zero: the same for dates after 1970.
        return sa.cast(events.c.date / DAY_S, sa.Integer)

    def per_day(self, types: Collection[str], start: float, end: float) -> list[DayCount]:
        """Events of ``types`` dated in [``start``, ``end``), counted per type and day."""
        day = self._day().label("day")
        statement = (
            sa.select(
                events.c.type,
                day,
                sa.func.count().label("n"),
                sa.func.min(events.c.date).label("first"),
                sa.func.max(events.c.date).label("last"),
            )
            .where(events.c.type.in_(sorted(types)), events.c.date >= start, events.c.date < end)
            .group_by(events.c.type, day)
        )
        with self._engine.connect() as db:
            return [
                DayCount(row.type, int(row.day), int(row.n), row.first, row.last)
                for row in db.execute(statement)
            ]

    def distinct_users(self, types: Collection[str], since: float) -> int:
        """How many users have an event of ``types`` dated ``since`` or later."""
        statement = sa.select(sa.func.count(sa.distinct(events.c.user_id))).where(
            events.c.type.in_(sorted(types)),
            events.c.date >= since,
            events.c.user_id.is_not(None),
        )
        with self._engine.connect() as db:
            return int(db.execute(statement).scalar_one())
