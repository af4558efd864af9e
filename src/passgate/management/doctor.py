"""``passgate doctor`` and ``GET /api/v2/passgate/doctor``: what is wrong with a
deployment, in plain words with the fix.

Blocking; reads the recent password exchanges from the event log (since a moment, at most
:data:`MAX_EVENTS`, newest first), the clients, the signing keys, the protection policies
and the tenant's issuer from the database, the breached-password index from its file,
the settings of the process it runs in, and ``/proc/mounts``. The checks over events are
:mod:`passgate.domain.doctor`'s; the checks over configuration are
:mod:`passgate.management.doctor_config`'s.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from passgate.domain.clock import Clock
from passgate.domain.doctor import (
    LOGIN_EVENTS,
    Finding,
    client_findings,
    password_grant_findings,
)
from passgate.domain.events import Event
from passgate.domain.log_dates import parse_since
from passgate.domain.log_query import DateSpan, Exists, Sort, Term, all_of, any_of
from passgate.domain.models import Client, SigningKey
from passgate.keys.issuer import ISSUER_KEY
from passgate.management.doctor_config import Deployment, config_findings
from passgate.management.errors import InvalidQuery
from passgate.settings import Settings
from passgate.storage.event_search import EventSearch
from passgate.storage.settings_store import Policies, SettingsStore
from passgate.storage.tenant import TenantStore
from passgate.storage.tokens import SigningKeys

__all__ = ["DEFAULT_SINCE", "MAX_EVENTS", "Doctor", "DoctorParts", "doctor_for"]

#: How far back the events are read by default.
DEFAULT_SINCE = "7d"
#: At most this many events of each kind are read (the newest).
MAX_EVENTS = 10_000
_NEWEST_FIRST = Sort("date", descending=True)


@dataclasses.dataclass(frozen=True, slots=True)
class DoctorParts:
    """What the doctor reads, each as a callable so that it reads at each check."""

    settings: Settings
    engine: sa.Engine
    clients: Callable[[], list[Client]]
    signing_keys: Callable[[], list[SigningKey]]
    policies: Callable[[], Policies]
    issuer: Callable[[], str | None]
    clock: Clock
    #: The mount table that tells what filesystem the data directory is on.
    mounts: Path = Path("/proc/mounts")


class Doctor:
    """Runs every check; :meth:`report` answers ``{"findings": [...]}``."""

    def __init__(self, parts: DoctorParts) -> None:
        self._parts = parts
        self._search = EventSearch(parts.engine)

    def since(self, text: str | None) -> float:
        """The moment ``text`` names (a duration back from now, or an ISO 8601 date or
        time); :data:`DEFAULT_SINCE` when None. Raises :class:`InvalidQuery`."""
        now = self._parts.clock()
        try:
            moment = parse_since(DEFAULT_SINCE if text is None else text, now)
        except (ValueError, OverflowError):
            raise InvalidQuery(
                "since must be a duration (30m, 12h, 7d, 2w) or an ISO 8601 date or time "
                "(2025-01-31, 2025-01-31T08:00:00Z)."
            ) from None
        if not math.isfinite(moment):
            raise InvalidQuery("since is out of range.")
        return min(moment, now)

    def _events(self, since: float, *where: Any) -> list[Event]:
        start = math.floor(max(since, 0.0) * 1000)
        query = all_of(DateSpan(start, None), *where)
        return self._search.page(query, sort=_NEWEST_FIRST, offset=0, limit=MAX_EVENTS)

    def findings(self, since: float) -> list[Finding]:
        """Every finding, errors first."""
        parts = self._parts
        clients = parts.clients()
        logins = self._events(since, any_of(*(Term("type", kind) for kind in LOGIN_EVENTS)))
        proxied = self._events(since, Exists("details.x_forwarded_for"))
        found = [
            *client_findings(logins, {client.client_id: client for client in clients}),
            *password_grant_findings(clients),
            *config_findings(
                Deployment(
                    settings=parts.settings,
                    now=parts.clock(),
                    issuer=parts.issuer(),
                    signing_keys=parts.signing_keys(),
                    policies=parts.policies(),
                    logins=logins,
                    proxied=proxied,
                    mounts=parts.mounts,
                )
            ),
        ]
        return sorted(found, key=Finding.sort_key)

    def report(self, since_text: str | None = None) -> dict[str, Any]:
        """``{"findings": [...]}`` for events since ``since_text`` (see :meth:`since`)."""
        return {
            "findings": [finding.to_json() for finding in self.findings(self.since(since_text))]
        }


def doctor_for(
    settings: Settings,
    engine: sa.Engine,
    *,
    clients: Callable[[], Sequence[Client]],
    clock: Clock,
    mounts: Path | None = None,
) -> Doctor:
    """A doctor over the stores of ``engine`` (a server's or a command's)."""
    tenant = TenantStore(engine)
    store = SettingsStore(engine, clock=clock)

    def issuer() -> str | None:
        value = tenant.get(ISSUER_KEY)
        return None if value is None else str(value)

    return Doctor(
        DoctorParts(
            settings=settings,
            engine=engine,
            clients=lambda: list(clients()),
            signing_keys=SigningKeys(engine).all,
            policies=store.read_policies,
            issuer=issuer,
            clock=clock,
            **({} if mounts is None else {"mounts": mounts}),
        )
    )
