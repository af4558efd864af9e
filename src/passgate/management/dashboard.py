"""The attack dashboard: what ``GET /api/v2/passgate/dashboard`` answers and the admin
console's Dashboard page draws.

Read from the hourly aggregates only (``storage/event_rollups``), never from the events:
its cost follows the window's hours and the IPs and accounts seen in them, not the size
of the event log. For a window (:data:`~passgate.domain.rollups.WINDOWS`: ``24h`` per
hour, ``7d`` and ``30d`` per UTC day): each series per bucket and in total; the top IPs
and the most-targeted accounts; the threat panel (credential stuffing, sign-up attacks,
breached passwords: whether an hour of the window reached the alert thresholds, its peak
hour, and the thresholds); the alerts sent; how far the aggregates have caught up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from passgate.domain.clock import Clock
from passgate.domain.events import log_date
from passgate.domain.rollups import HOUR_S, SERIES, WINDOWS, hour_of
from passgate.domain.security_alerts import KINDS, TITLES, AlertPolicy, Crossing, crossings
from passgate.management.errors import InvalidQuery
from passgate.protection.alerts import SecurityAlerts, describe
from passgate.storage.event_rollups import EventRollups
from passgate.storage.security_alerts import AlertClaims

__all__ = ["DEFAULT_WINDOW", "TOP", "Dashboard"]

DEFAULT_WINDOW = "24h"
#: IPs and accounts listed.
TOP = 10


def _when(hour: int) -> str:
    return log_date(hour * HOUR_S)


class Dashboard:
    """Builds the dashboard of a window (blocking: it reads the database)."""

    def __init__(
        self,
        *,
        rollups: EventRollups,
        claims: AlertClaims,
        policy: Callable[[], AlertPolicy],
        clock: Clock,
        top: int = TOP,
    ) -> None:
        self._rollups = rollups
        self._claims = claims
        self._policy = policy
        self._clock = clock
        self._top = top
        #: The top lists are the costly reads (a scan of the window's keys each): they run
        #: here, side by side, while the calling thread reads the rest.
        self._lists = ThreadPoolExecutor(2, thread_name_prefix="passgate-dashboard")

    @classmethod
    def of(cls, alerts: SecurityAlerts, *, clock: Clock) -> Dashboard:
        """The dashboard over the aggregates and thresholds ``alerts`` keeps."""
        return cls(rollups=alerts.rollups, claims=alerts.claims, policy=alerts.policy, clock=clock)

    def report(self, window: str | None = None) -> dict[str, Any]:
        """The dashboard of ``window`` (``24h``, ``7d`` or ``30d``; default ``24h``).
        Raises :class:`InvalidQuery` for another window."""
        name = DEFAULT_WINDOW if window is None else window
        spec = WINDOWS.get(name)
        if spec is None:
            raise InvalidQuery(f"window must be one of {', '.join(WINDOWS)}.")
        now = self._clock()
        starts = spec.starts(now)
        first, current = starts[0], hour_of(now)
        top = {"width": spec.bucket_hours, "first": first, "last": starts[-1], "limit": self._top}
        accounts = self._lists.submit(self._rollups.top, "account", **top)
        ips = self._lists.submit(self._rollups.top, "ip", **top)
        hourly = self._rollups.hourly(first, current)
        buckets = []
        totals = dict.fromkeys(SERIES, 0)
        for start in starts:
            hours = range(start, start + spec.bucket_hours)
            counts = {series: sum(hourly.get((h, series), 0) for h in hours) for series in SERIES}
            buckets.append({"start": _when(start), **counts})
            for series, count in counts.items():
                totals[series] += count
        seq, rolled_at = self._rollups.cursor()
        return {
            "window": name,
            "bucket": "hour" if spec.bucket_hours == 1 else "day",
            "from": _when(first),
            "to": log_date(now),
            "series": buckets,
            "totals": totals,
            "top_ips": ips.result(),
            "top_accounts": accounts.result(),
            "threats": self._threats(hourly, list(range(first, current + 1)), current),
            "alerts": [
                {
                    "kind": alert.kind,
                    "title": TITLES.get(alert.kind, alert.kind),
                    "hour": _when(alert.hour),
                    "date": log_date(alert.fired_at),
                }
                for alert in self._claims.since(first)
            ],
            "rollup": {
                "pending_events": self._rollups.pending(),
                "updated_at": log_date(rolled_at) if rolled_at else None,
                "seq": seq,
            },
        }

    def _threats(
        self, hourly: dict[tuple[int, str], int], hours: list[int], current: int
    ) -> list[dict[str, Any]]:
        """One entry per threat: the hours of the window that reached its thresholds
        (judged whether or not alerts are on for it), the peak hour, the thresholds."""
        policy = self._policy()
        judged = dataclasses.replace(policy, enabled=True, kinds=dict.fromkeys(KINDS, True))
        crossed: dict[str, list[Crossing]] = {kind: [] for kind in KINDS}
        for crossing in crossings(judged, hourly, hours):
            crossed[crossing.kind].append(crossing)
        threats = []
        for kind, fields in KINDS.items():
            metrics = [metric for metric, _ in fields.values()]
            primary = metrics[0]
            found = crossed[kind]
            pool = found or [
                Crossing(
                    kind,
                    hour,
                    {metric: hourly.get((hour, metric), 0) for metric in metrics},
                    policy.threshold(kind),
                )
                for hour in hours
            ]
            peak = max(pool, key=lambda c: (c.counts[primary], c.hour))
            threats.append(
                {
                    "kind": kind,
                    "title": TITLES[kind],
                    "detected": bool(found),
                    "active": any(c.hour >= current - 1 for c in found),
                    "hours": len(found),
                    "first": _when(found[0].hour) if found else None,
                    "last": _when(found[-1].hour) if found else None,
                    "peak": {"hour": _when(peak.hour), **peak.counts},
                    "threshold": policy.threshold(kind),
                    "alerts_enabled": policy.active(kind),
                    "description": describe(peak) if found else None,
                }
            )
        return threats
