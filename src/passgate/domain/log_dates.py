"""Dates in log searches, to the millisecond: the forms Auth0 accepts, and back to text.

A date is ISO 8601 from the year down to any precision: ``2018``, ``2018-12``,
``2018-12-18``, ``2018-12-18T12``, ``2018-12-18T12:22``, ``2018-12-18T12:22:48``,
``2018-12-18T12:22:48.123`` (up to nine decimals, kept to the millisecond), then an
optional ``Z`` or offset (``+02:00``, ``-0530``) after a time. Without one it is UTC. As on
Auth0, the missing parts are zero: ``2018-12`` starts at ``2018-12-01T00:00:00.000Z``.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_MS", "MIN_MS", "iso_ms", "parse_date", "parse_since"]

_DATE = re.compile(
    r"(?P<year>[0-9]{4})"
    r"(?:-(?P<month>[0-9]{2})"
    r"(?:-(?P<day>[0-9]{2})"
    r"(?:[Tt](?P<hour>[0-9]{2})"
    r"(?::(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?)?)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:?[0-9]{2})?)?)?)?"
)

_SECOND = 1000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the date, proleptic Gregorian, for any year (the year
    after 9999 included, which ``datetime`` cannot hold)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


#: The first and last millisecond a date can name.
MIN_MS = _days(1, 1, 1) * _DAY
MAX_MS = _days(10000, 1, 1) * _DAY - 1


def _zone_ms(zone: str | None) -> int:
    """The offset from UTC; raises ``ValueError`` past 23:59."""
    if zone is None or zone in "Zz":
        return 0
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError("its offset from UTC is out of range")
    offset = hours * _HOUR + minutes * _MINUTE
    return -offset if zone[0] == "-" else offset


def _checked(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(f"its {name} is out of range")
    return value


def parse_date(text: str) -> tuple[int, int]:
    """The first millisecond ``text`` names and the first after the period it names
    (``2018-12`` names December 2018, ``2018-12-18T12:22:48.123`` one millisecond).

    Raises ``ValueError`` saying what is wrong when ``text`` is not such a date."""
    found = _DATE.fullmatch(text)
    if found is None:
        raise ValueError("it is not a date such as 2018-12-18 or 2018-12-18T12:22:48.123Z")
    part = found.groupdict()
    year = _checked("year", int(part["year"]), 1, 9999)
    month = _checked("month", int(part["month"] or 1), 1, 12)
    day = _checked("day", int(part["day"] or 1), 1, calendar.monthrange(year, month)[1])
    hour = _checked("hour", int(part["hour"] or 0), 0, 23)
    minute = _checked("minute", int(part["minute"] or 0), 0, 59)
    second = _checked("second", int(part["second"] or 0), 0, 59)
    fraction = part["fraction"]
    millis = int((fraction + "00")[:3]) if fraction else 0
    start = (
        _days(year, month, day) * _DAY
        + hour * _HOUR
        + minute * _MINUTE
        + second * _SECOND
        + millis
        - _zone_ms(part["zone"])
    )
    if not MIN_MS <= start <= MAX_MS:
        raise ValueError("it is out of range (years 0001 to 9999, in UTC)")
    if fraction is not None:
        step = 1
    elif part["second"] is not None:
        step = _SECOND
    elif part["minute"] is not None:
        step = _MINUTE
    elif part["hour"] is not None:
        step = _HOUR
    elif part["day"] is not None:
        step = _DAY
    elif part["month"] is not None:
        following = (year + 1, 1) if month == 12 else (year, month + 1)
        step = _days(*following, 1) * _DAY - _days(year, month, 1) * _DAY
    else:
        step = _days(year + 1, 1, 1) * _DAY - _days(year, 1, 1) * _DAY
    return start, start + step


def iso_ms(ms: int) -> str:
    """``ms`` as Auth0 writes dates: ``2018-12-18T15:23:48.123Z``. ``ms`` is between
    :data:`MIN_MS` and :data:`MAX_MS`."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([0-9]{1,9})([smhdw])", re.IGNORECASE)


def parse_since(text: str, now: float) -> float:
    """The moment ``text`` names: a duration back from ``now`` (``90s``, ``15m``, ``1h``,
    ``2d``, ``1w``) or an ISO 8601 date or date and time (UTC unless it has an offset).

    Raises ``ValueError`` for anything else."""
    text = text.strip()
    duration = _DURATION.fullmatch(text)
    if duration is not None:
        return now - int(duration.group(1)) * _UNITS[duration.group(2).lower()]
    moment = datetime.fromisoformat(text)  # ValueError if it is not ISO 8601
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
