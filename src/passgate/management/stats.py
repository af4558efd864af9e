"""Daily statistics and active users from the event log (Auth0's ``/stats`` endpoints).

- ``logins``: successful logins, ``s`` and ``sepft`` (passgate's password logins are
  password exchanges, ``sepft``; Auth0's hosted logins are ``s``);
- ``signups``: ``ss``;
- ``leaked_passwords``: ``pwd_leak``, ``signup_pwd_leak`` and ``reset_pwd_leak``;
- active users: distinct users with a successful login in the last 30 days.

Days are UTC days. A range is given as ``YYYYMMDD`` days, both included, at most
:data:`MAX_DAYS` of them; each day of the range is answered, with zeros when nothing
happened. Blocking (database reads).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from passgate.domain.clock import Clock
from passgate.management.errors import InvalidQuery
from passgate.storage.event_stats import DAY_S, EventStats

__all__ = [
    "ACTIVE_DAYS",
    "DEFAULT_DAYS",
    "LEAK_TYPES",
    "LOGIN_TYPES",
    "MAX_DAYS",
    "SIGNUP_TYPES",
    "Stats",
]

LOGIN_TYPES = ("s", "sepft")
SIGNUP_TYPES = ("ss",)
LEAK_TYPES = ("pwd_leak", "signup_pwd_leak", "reset_pwd_leak")
#: The longest range one call covers, in days.
MAX_DAYS = 366
#: The range when none is given: the last 30 days, today included.
DEFAULT_DAYS = 30
ACTIVE_DAYS = 30
_COLUMNS = {
    **dict.fromkeys(LOGIN_TYPES, "logins"),
    **dict.fromkeys(SIGNUP_TYPES, "signups"),
    **dict.fromkeys(LEAK_TYPES, "leaked_passwords"),
}
_EPOCH = date(1970, 1, 1)


def _query_error(problem: str, name: str) -> InvalidQuery:
    return InvalidQuery(f"Query validation error: '{problem}' on property {name}.")


def _day(value: str, name: str) -> date:
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        raise _query_error(f"{value[:20]!r} is not a day written YYYYMMDD", name)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise _query_error(f"{value} is not a day of the calendar", name) from None


def _iso(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Stats:
    def __init__(self, events: EventStats, *, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock(), UTC).date()

    def days(self, start: str | None, end: str | None) -> tuple[date, date]:
        """The range ``from``/``to`` name (400 when malformed, reversed or too wide)."""
        last = _day(end, "to") if end is not None else self._today()
        first = (
            _day(start, "from") if start is not None else last - timedelta(days=DEFAULT_DAYS - 1)
        )
        if first > last:
            raise _query_error(f"from ({first:%Y%m%d}) is after to ({last:%Y%m%d})", "from")
        if (last - first).days + 1 > MAX_DAYS:
            raise _query_error(f"The range is longer than {MAX_DAYS} days", "to")
        return first, last

    def daily(self, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]:
        """Auth0's ``GET /stats/daily``: one entry per day of the range, oldest first."""
        first, last = self.days(start, end)
        first_day = (first - _EPOCH).days
        days = (last - first).days + 1
        entries: list[dict[str, Any]] = []
        for offset in range(days):
            midnight = (first_day + offset) * DAY_S
            entries.append(
                {
                    "date": _iso(midnight),
                    "logins": 0,
                    "signups": 0,
                    "leaked_passwords": 0,
                    "created_at": midnight,
                    "updated_at": midnight,
                }
            )
        seen: set[int] = set()
        counts = self._events.per_day(_COLUMNS, first_day * DAY_S, (first_day + days) * DAY_S)
        for count in counts:
            entry = entries[count.day - first_day]
            entry[_COLUMNS[count.type]] += count.count
            if count.day in seen:
                entry["created_at"] = min(entry["created_at"], count.first)
                entry["updated_at"] = max(entry["updated_at"], count.last)
            else:
                seen.add(count.day)
                entry["created_at"], entry["updated_at"] = count.first, count.last
        for entry in entries:
            entry["created_at"] = _iso(entry["created_at"])
            entry["updated_at"] = _iso(entry["updated_at"])
        return entries

    def active_users(self) -> int:
        """Users with a successful login in the last 30 days."""
        return self._events.distinct_users(LOGIN_TYPES, self._clock() - ACTIVE_DAYS * DAY_S)
