"""How well a client forwards its end users' IPs (``auth0-forwarded-for``), from the
event log: of its password logins in a window, the share whose ``ip`` differs from the
connecting ``client_ip`` (the forwarded one was used), how many distinct IPs were seen,
and how many carried a forwarded header that was ignored (``details.ip_header``)."""

from __future__ import annotations

import dataclasses

from passgate.domain.clock import Clock
from passgate.domain.log_query import DateSpan, Term, all_of, any_of
from passgate.management.logs import LogService

__all__ = ["ForwardingHealth", "forwarding_health"]

#: The window looked at, and the most events read from it.
WINDOW_S = 7 * 24 * 3600.0
MAX_EVENTS = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class ForwardingHealth:
    logins: int
    forwarded: int
    distinct_ips: int
    ignored_headers: int
    #: The newest reason a header was ignored, if any.
    last_reason: str | None
    window_days: int

    @property
    def forwarded_share(self) -> float | None:
        return None if self.logins == 0 else self.forwarded / self.logins


def forwarding_health(logs: LogService, client_id: str, clock: Clock) -> ForwardingHealth:
    """The client's password logins (``sepft``, ``fepft``) of the last 7 days, read newest
    first (at most :data:`MAX_EVENTS`). Blocking."""
    since_ms = int((clock() - WINDOW_S) * 1000)
    where = all_of(
        Term("client_id", client_id),
        any_of(Term("type", "sepft"), Term("type", "fepft")),
        DateSpan(since_ms, None),
    )
    events = logs.newest(where, MAX_EVENTS)
    forwarded = sum(1 for e in events if e.ip and e.client_ip and e.ip != e.client_ip)
    ignored = [e for e in events if e.details.get("ip_header")]
    return ForwardingHealth(
        logins=len(events),
        forwarded=forwarded,
        distinct_ips=len({e.ip for e in events if e.ip}),
        ignored_headers=len(ignored),
        last_reason=str(ignored[0].details["ip_header"]) if ignored else None,
        window_days=int(WINDOW_S // 86400),
    )
