"""What the attack dashboard counts, and how events fall into hours and windows.

Pure rules, no I/O: :func:`classify` says which dashboard series an event adds to (from
its type and, for a failed password exchange, the error in its details); :class:`Tally`
sums a batch of events into per-hour counts, per-IP and per-account counts, which the
storage adds to its hourly aggregates (``storage/event_rollups``); :data:`WINDOWS` are
the dashboard's ranges (24 h per hour, 7 d and 30 d per UTC day).

Failed logins are Auth0's ``fp`` and ``fu`` and passgate's own failed password exchanges
(``fepft``) refused for a wrong identifier or password (``invalid_grant``): a refusal for
another reason (a block, a throttle, a malformed request, a bad client secret) is no guess
at a password, and blocks and throttles have series of their own.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from passgate.domain.identifiers import canonical_identifier

__all__ = [
    "ACCOUNT_FIELDS",
    "DAY_HOURS",
    "HOUR_S",
    "IP_FIELDS",
    "SERIES",
    "WINDOWS",
    "Tally",
    "Window",
    "account_key",
    "classify",
    "hour_of",
]

HOUR_S = 3600
DAY_HOURS = 24

#: The dashboard's series, in the order charts show them, each with the event types it
#: counts (``fepft`` only when refused for a wrong identifier or password).
SERIES: Mapping[str, tuple[str, ...]] = {
    "logins": ("s", "sepft"),
    "failed_logins": ("fp", "fu", "fepft"),
    "brute_force_blocks": ("limit_wc",),
    "ip_throttles": ("limit_mu",),
    "breached_passwords": ("pwd_leak", "signup_pwd_leak", "reset_pwd_leak"),
    "signups": ("ss",),
}
#: Hourly counts kept beside the series: sign-up attempts (``ss`` and ``fs``), and how many
#: distinct accounts and IPs failed logins were made against / from, and IPs signed up from.
EXTRA_METRICS = ("signup_attempts", "failed_accounts", "failed_ips", "signup_ips")

#: Per IP and hour (or day): these counts, ``total`` their sum.
IP_FIELDS = ("failed_logins", "signups", "blocks", "breached")
#: Per account and hour (or day).
ACCOUNT_FIELDS = ("failed_logins", "blocks", "breached")

_BY_TYPE: dict[str, str] = {kind: name for name, kinds in SERIES.items() for kind in kinds}
#: The password exchange's refusal for a wrong identifier or password.
WRONG_CREDENTIALS = "invalid_grant"
#: Longest account label kept (the column's length).
ACCOUNT_MAX = 320
IP_MAX = 64


def hour_of(moment: float) -> int:
    """The hour holding ``moment``: whole hours since 1970-01-01T00:00Z."""
    return int(moment // HOUR_S)


def _fepft_error(details: str | Mapping[str, Any] | None) -> str | None:
    if details is None:
        return None
    if isinstance(details, str):
        if WRONG_CREDENTIALS not in details:  # most exchanges: no parse needed
            return None
        try:
            details = json.loads(details)
        except ValueError:
            return None
    if not isinstance(details, Mapping):
        return None
    error = details.get("error")
    if isinstance(error, Mapping):
        value = error.get("error")
        return value if isinstance(value, str) else None
    return error if isinstance(error, str) else None


def classify(kind: str, details: str | Mapping[str, Any] | None = None) -> str | None:
    """The series an event of type ``kind`` adds to, or None; ``details`` (the stored JSON
    text or the mapping) is read only for a failed password exchange."""
    series = _BY_TYPE.get(kind)
    if kind == "fepft" and _fepft_error(details) != WRONG_CREDENTIALS:
        return None
    return series


def account_key(user_name: str | None, user_id: str | None) -> str | None:
    """Whom an event was about: the identifier tried, in its canonical form (so that its
    spellings count together), else the user id; cut to :data:`ACCOUNT_MAX`."""
    if user_name:
        return canonical_identifier(user_name)[:ACCOUNT_MAX] or None
    return user_id[:ACCOUNT_MAX] if user_id else None


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A dashboard range: ``buckets`` buckets of ``bucket_hours`` hours, the newest the
    one holding now (UTC hours, or UTC days)."""

    name: str
    bucket_hours: int
    buckets: int

    def first_hour(self, now: float) -> int:
        """The first hour of the window's first bucket."""
        current = hour_of(now) // self.bucket_hours * self.bucket_hours
        return current - (self.buckets - 1) * self.bucket_hours

    def starts(self, now: float) -> list[int]:
        """The first hour of each bucket, oldest first."""
        first = self.first_hour(now)
        return [first + index * self.bucket_hours for index in range(self.buckets)]


WINDOWS: Mapping[str, Window] = {
    "24h": Window("24h", 1, 24),
    "7d": Window("7d", DAY_HOURS, 7),
    "30d": Window("30d", DAY_HOURS, 30),
}


def _counter() -> dict[str, int]:
    return defaultdict(int)


@dataclasses.dataclass
class Tally:
    """A batch of events summed by hour: series counts, and per IP and per account."""

    #: (hour, metric) -> count
    metrics: dict[tuple[int, str], int] = dataclasses.field(
        default_factory=lambda: defaultdict(int)
    )
    #: (hour, ip) -> field -> count
    ips: dict[tuple[int, str], dict[str, int]] = dataclasses.field(
        default_factory=lambda: defaultdict(_counter)
    )
    #: (hour, account) -> field -> count
    accounts: dict[tuple[int, str], dict[str, int]] = dataclasses.field(
        default_factory=lambda: defaultdict(_counter)
    )
    events: int = 0

    def add(
        self,
        *,
        kind: str,
        date: float,
        ip: str | None,
        user_name: str | None,
        user_id: str | None,
        details: str | Mapping[str, Any] | None,
    ) -> None:
        """Count one event (events of no series are skipped)."""
        self.events += 1
        series = classify(kind, details)
        attempt = kind in ("ss", "fs")
        if series is None and not attempt:
            return
        hour = hour_of(date)
        if series is not None:
            self.metrics[hour, series] += 1
        if attempt:
            self.metrics[hour, "signup_attempts"] += 1
        field = {
            "failed_logins": "failed_logins",
            "brute_force_blocks": "blocks",
            "ip_throttles": "blocks",
            "breached_passwords": "breached",
        }.get(series or "", "signups" if attempt else None)
        if field is None:
            return
        if ip:
            self.ips[hour, ip[:IP_MAX]][field] += 1
        if field != "signups" and kind != "limit_mu":
            account = account_key(user_name, user_id)
            if account is not None:
                self.accounts[hour, account][field] += 1

    def hours(self) -> set[int]:
        """The hours this batch counted anything in."""
        return {hour for hour, _ in self.metrics}
