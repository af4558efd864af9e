"""How long a stored value may be, read from the tables' column lengths.

PostgreSQL refuses a value longer than its ``VARCHAR(n)`` column (``n`` characters, that
is code points); SQLite stores it whole. passgate measures first, so both behave alike
and no statement fails for length: a value given by a person is refused with
:class:`ValueTooLong` (the caller says which parameter), a value passgate records about a
request (an event's fields) is shortened with :func:`shorten`. The numbers live in
:mod:`passgate.storage.schema` only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from passgate.errors import InvalidValue

__all__ = ["MARKER", "ValueTooLong", "check_length", "max_length", "shorten"]

#: Ends a shortened value, so that a reader sees it was cut.
MARKER = "…"


class ValueTooLong(InvalidValue):
    """A value is longer than the column it goes to; nothing was stored.

    ``folded`` says the limit was passed by the value's case-folded form (its lookup
    key), which can be longer than the value itself (``ß`` folds to ``ss``).
    """

    def __init__(self, field: str, limit: int, *, folded: bool = False) -> None:
        self.field = field
        self.limit = limit
        self.folded = folded
        super().__init__(self.message(field))

    def message(self, name: str) -> str:
        """The refusal, naming the value ``name`` (a parameter, an option)."""
        counted = " once case-folded" if self.folded else ""
        return f"{name} is too long (at most {self.limit} characters{counted})"


def max_length(column: sa.Column[Any]) -> int | None:
    """The most characters ``column`` holds, or None when it is not bounded."""
    length = getattr(column.type, "length", None)
    return length if isinstance(length, int) else None


def check_length(
    column: sa.Column[Any], value: str | None, *, field: str, folded: bool = False
) -> None:
    """Raise :class:`ValueTooLong` naming ``field`` when ``value`` does not fit."""
    limit = max_length(column)
    if value is not None and limit is not None and len(value) > limit:
        raise ValueTooLong(field, limit, folded=folded)


def shorten(column: sa.Column[Any], value: str | None) -> str | None:
    """``value`` cut to fit ``column``, ending in :data:`MARKER` when it was cut."""
    limit = max_length(column)
    if value is None or limit is None or len(value) <= limit:
        return value
    return value[: limit - len(MARKER)] + MARKER
