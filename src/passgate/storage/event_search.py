"""Searching the event log: a query's tree (:mod:`passgate.domain.log_query`) as SQL.

Every value reaches the database as a bound parameter; the statements are SQLAlchemy Core.
Text matches are case-sensitive on both backends, as Auth0's are: a wildcard is ``LIKE``
on PostgreSQL and ``GLOB`` on SQLite (whose ``LIKE`` ignores ASCII letter case), each with
the other characters escaped. ``NOT`` of a field an event lacks matches the event.

Two ways through many results:

- by page (:meth:`EventSearch.page`): sorted (newest first by default), an offset and a
  limit. Fast for one type, IP, user or client and for a date range, newest or oldest
  first: each has an index on (field, date, seq) or (date).
- by checkpoint (:meth:`EventSearch.after`): the events written after a position, in the
  order they were written. The log numbers events in the order their writes commit
  (:mod:`passgate.storage.event_log`), so whatever is written meanwhile, reading on from
  the last position seen skips nothing and repeats nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.util import ClauseAdapter

from passgate.domain.client_ip import normalise_ip
from passgate.domain.events import Event
from passgate.domain.log_query import (
    ABSENT_FIELDS,
    BARE_FIELDS,
    DATE_FIELD,
    And,
    AnyCase,
    DateSpan,
    Exists,
    Node,
    Not,
    Or,
    Pattern,
    Sort,
    Term,
    details_path,
)
from passgate.errors import StorageError
from passgate.storage.event_log import event_from_row
from passgate.storage.schema import events

__all__ = ["EventSearch", "condition"]

_IP_FIELDS = ("ip", "client_ip")
#: How many pages' worth of positions a checkpoint read scans in order before it asks the
#: query's index (see :meth:`EventSearch.after`).
CHECKPOINT_WINDOW = 20


def _glob_pattern(parts: tuple[str, ...]) -> str:
    """``parts`` joined by GLOB's ``*``, each part's ``*``, ``?`` and ``[`` made literal."""
    table = str.maketrans({"[": "[[]", "*": "[*]", "?": "[?]"})
    return "*".join(part.translate(table) for part in parts)


def _like_pattern(parts: tuple[str, ...]) -> str:
    """``parts`` joined by LIKE's ``%``, each part's ``\\``, ``%`` and ``_`` escaped."""
    table = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
    return "%".join(part.translate(table) for part in parts)


class _Compiler:
    """One dialect's SQL for a tree."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def text(self, field: str) -> sa.ColumnElement[Any] | None:
        """The value of a text field as SQL; None for a field events never have."""
        if field in ABSENT_FIELDS:
            return None
        keys = details_path(field)
        if keys is None:
            if field == DATE_FIELD or field not in events.c:
                raise ValueError(f"{field!r} is not a text field of events")
            return events.c[field]
        if not self.sqlite:
            return sa.func.jsonb_extract_path_text(sa.cast(events.c.details, JSONB), *keys)
        path = "$" + "".join(f'."{key}"' for key in keys)  # keys are [A-Za-z0-9_]
        kind = sa.func.json_type(events.c.details, path)
        # As PostgreSQL's text of JSON values: true and false, not 1 and 0.
        return sa.case(
            (kind == "true", "true"),
            (kind == "false", "false"),
            else_=sa.cast(sa.func.json_extract(events.c.details, path), sa.Text),
        )

    def matches(self, field: str | None, node: Term | Pattern | Exists) -> sa.ColumnElement[bool]:
        if field is None:
            return sa.or_(*(self.matches(name, node) for name in BARE_FIELDS))
        column = self.text(field)
        if column is None:
            return sa.false()
        match node:
            case Term(_, value):
                return column == (normalise_ip(value) if field in _IP_FIELDS else value)
            case Pattern(_, parts) if self.sqlite:
                return column.op("GLOB", is_comparison=True)(_glob_pattern(parts))
            case Pattern(_, parts):
                return column.like(_like_pattern(parts), escape="\\")
        return column.is_not(None)

    def condition(self, node: Node) -> sa.ColumnElement[bool]:
        match node:
            case Term(field) | Pattern(field) | Exists(field):
                return self.matches(field, node)
            case DateSpan(start, end):
                bounds = []
                if start is not None:
                    bounds.append(events.c.date >= start / 1000)
                if end is not None:
                    bounds.append(events.c.date < end / 1000)
                return sa.and_(sa.true(), *bounds)
            case AnyCase(field, value):
                column = self.text(field)
                return sa.false() if column is None else sa.func.lower(column) == value.lower()
            case Not(operand):
                # SQL's NOT of an unknown (a comparison with NULL) is unknown: count it
                # as false first, so that NOT matches the events without the field.
                known = sa.func.coalesce(self.condition(operand), sa.false(), type_=sa.Boolean)
                return sa.not_(known)
            case And(operands):
                return sa.and_(*(self.condition(operand) for operand in operands))
            case Or(operands):
                return sa.or_(*(self.condition(operand) for operand in operands))
        raise TypeError(f"not a query node: {node!r}")


def condition(node: Node | None, dialect: str) -> sa.ColumnElement[bool]:
    """The WHERE clause of ``node`` in ``dialect`` ("sqlite" or "postgresql")."""
    return sa.true() if node is None else _Compiler(dialect).condition(node)


def _ordering(sort: Sort) -> list[sa.UnaryExpression[Any]]:
    direction = sa.desc if sort.descending else sa.asc
    tie_break = direction(events.c.seq)
    if sort.field == DATE_FIELD:
        return [direction(events.c.date), tie_break]
    if sort.field in ABSENT_FIELDS:
        return [tie_break]
    return [direction(events.c[sort.field]).nulls_last(), tie_break]


class EventSearch:
    """Reads the event log by query (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def _rows(self, *statements: sa.Executable) -> list[list[Any]]:
        try:
            with self._engine.connect() as db:
                return [list(db.execute(statement)) for statement in statements]
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the event log: {type(exc).__name__}") from exc

    def page(self, where: Node | None, *, sort: Sort, offset: int, limit: int) -> list[Event]:
        """The events ``where`` matches, in ``sort`` order, from ``offset``, at most ``limit``."""
        statement = (
            sa.select(events)
            .where(condition(where, self._dialect))
            .order_by(*_ordering(sort))
            .offset(offset)
            .limit(limit)
        )
        [rows] = self._rows(statement)
        return [event_from_row(row) for row in rows]

    def count(self, where: Node | None, *, up_to: int) -> int:
        """How many events ``where`` matches, counted up to ``up_to`` at most (counting
        reads every match: a million of them take a second or two)."""
        matches = sa.select(events.c.seq).where(condition(where, self._dialect)).limit(up_to)
        [rows] = self._rows(sa.select(sa.func.count()).select_from(matches.subquery()))
        return int(rows[0][0])

    def get(self, log_id: str) -> Event | None:
        [rows] = self._rows(sa.select(events).where(events.c.log_id == log_id))
        return event_from_row(rows[0]) if rows else None

    def position(self, log_id: str) -> int | None:
        """Where the event ``log_id`` is in the log (None when there is no such event)."""
        [rows] = self._rows(sa.select(events.c.seq).where(events.c.log_id == log_id))
        return int(rows[0][0]) if rows else None

    def end(self) -> int:
        """The position of the newest event (0 when the log is empty)."""
        [rows] = self._rows(sa.select(sa.func.max(events.c.seq)))
        return int(rows[0][0] or 0)

    def after(self, position: int, where: Node | None, *, limit: int) -> tuple[list[Event], int]:
        """The events ``where`` matches past ``position``, oldest first, at most ``limit``;
        and the position to read on from: the last event's when ``limit`` came back, else
        the end of the log as it was read (so a query that matches little does not read
        the same events again next time).

        Two reads: the next :data:`CHECKPOINT_WINDOW` times ``limit`` positions in order
        (enough when the query matches often), then, if fewer came back, the rest through
        the query's own index (best when it matches rarely). An index on (type, date, seq)
        alone would sort every match past ``position`` to find the first ones, and SQLite,
        without statistics, would choose it even for a type that half the events have."""
        horizon = self.end()
        if horizon <= position or limit <= 0:
            return [], position
        seq = events.c.seq
        where_sql = condition(where, self._dialect)
        span = CHECKPOINT_WINDOW * limit
        window_end = min(horizon, position + span)
        # The LIMIT keeps the window a subquery of its own (neither database merges it
        # into the outer query), so it is read by position whatever indexes the query has.
        window = (
            sa.select(events)
            .where(seq > position, seq <= window_end)
            .order_by(seq)
            .limit(span)
            .subquery("window")
        )
        in_window = ClauseAdapter(window).traverse(where_sql)
        in_order = sa.select(window).where(in_window).order_by(window.c.seq).limit(limit)
        [rows] = self._rows(in_order)
        if len(rows) < limit and window_end < horizon:
            rest = (
                sa.select(events)
                .where(seq > window_end, seq <= horizon, where_sql)
                .order_by(seq)
                .limit(limit - len(rows))
            )
            rows += self._rows(rest)[0]
        following = int(rows[-1].seq) if len(rows) == limit else horizon
        return [event_from_row(row) for row in rows], following
