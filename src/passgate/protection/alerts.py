"""Security alerts: when an hour's counts cross a threshold (``domain/security_alerts``),
one email to the administrators, one webhook call (when configured) and one event.

:meth:`SecurityAlerts.tick` runs in every server process every second or so: it rolls
the event log up into the dashboard's aggregates (``storage/event_rollups``) and checks
the current hour and the one before, whoever rolled their events up. An alert is claimed in
the database before anything is sent (``storage/security_alerts``: one row per kind and
hour), so however many workers and instances see the crossing, the administrators get
one alert per threat and hour, not a storm. A crash between the claim and the sending
loses that alert (at most once, never twice).

The email goes to the tenant's ``admin_emails`` (``passgate protection admins set``), as
the suspicious-IP and breached-password notifications do, through the configured mailer
(outbox folder or SMTP). The webhook gets a JSON POST; failures of either are logged and
noted in the event's details, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import sqlalchemy as sa

from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink, log_date
from passgate.domain.policy import PolicyError
from passgate.domain.rollups import HOUR_S, hour_of
from passgate.domain.security_alerts import TITLES, AlertPolicy, Crossing, crossings
from passgate.errors import StorageError
from passgate.mail.mailer import Mailer, MailError, OutgoingMail
from passgate.storage.event_rollups import EventRollups
from passgate.storage.security_alerts import AlertClaims
from passgate.storage.settings_store import LivePolicies, SettingsStore
from passgate.support.background import Periodic

__all__ = [
    "ALERTS_RETENTION_H",
    "ALERT_EVENT",
    "ROLLUP_INTERVAL_S",
    "ROLLUP_RETENTION_H",
    "SECURITY_ALERTS_KEY",
    "WEBHOOK_TIMEOUT_S",
    "AlertParts",
    "SecurityAlerts",
    "describe",
    "post_webhook",
    "read_alert_policy",
    "security_alerts_for",
]

logger = logging.getLogger("passgate.alerts")

#: The tenant setting that holds the thresholds (an :class:`AlertPolicy` as JSON).
SECURITY_ALERTS_KEY = "security_alerts"
#: The event written for each alert sent.
ALERT_EVENT = "security_alert"
WEBHOOK_TIMEOUT_S = 5.0
#: How often a server process rolls new events up and checks the thresholds.
ROLLUP_INTERVAL_S = 1.0
#: How long the dashboard's aggregates are kept (hours; the longest window is 30 days).
ROLLUP_RETENTION_H = 35 * 24
#: How long the record of an alert sent is kept (hours).
ALERTS_RETENTION_H = 90 * 24

Webhook = Callable[[str, dict[str, Any]], None]
_SEEN_KEPT = 64


class AlertParts(Protocol):
    """What the alerts are made of: the composition root's parts, by name."""

    @property
    def engine(self) -> sa.Engine: ...
    @property
    def policies(self) -> LivePolicies: ...
    @property
    def mailer(self) -> Mailer: ...
    @property
    def events(self) -> EventSink: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def public_url(self) -> str: ...
    def admin_emails(self) -> list[str]: ...


def read_alert_policy(store: SettingsStore) -> AlertPolicy:
    """The stored thresholds (the defaults when never set)."""
    value = store.get_json(SECURITY_ALERTS_KEY)
    try:
        return AlertPolicy() if value is None else AlertPolicy.from_json(value)
    except PolicyError as exc:
        raise StorageError(f"tenant setting {SECURITY_ALERTS_KEY!r} is not valid: {exc}") from exc


def post_webhook(url: str, body: dict[str, Any]) -> None:
    """POST ``body`` as JSON to ``url``; raises ``httpx.HTTPError`` on failure (a non-2xx
    answer included). Redirects are not followed."""
    response = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
    response.raise_for_status()


def _hour_text(hour: int) -> str:
    return datetime.fromtimestamp(hour * HOUR_S, UTC).strftime("%Y-%m-%d %H:%MZ")


def describe(crossing: Crossing) -> str:
    """What was seen in the hour, in plain words."""
    counts, threshold = crossing.counts, crossing.threshold
    if crossing.kind == "credential_stuffing":
        return (
            f"{counts['failed_logins']} failed logins against {counts['failed_accounts']} "
            f"accounts (threshold: {threshold['failed_logins_per_hour']} failed logins "
            f"against {threshold['min_accounts']} accounts in an hour)"
        )
    if crossing.kind == "signup_attack":
        return (
            f"{counts['signup_attempts']} sign-up attempts (threshold: "
            f"{threshold['signups_per_hour']} in an hour)"
        )
    return (
        f"{counts['breached_passwords']} breached-password detections (threshold: "
        f"{threshold['hits_per_hour']} in an hour)"
    )


class SecurityAlerts:
    """Rolls the event log up and sends the alerts it calls for (blocking; one thread)."""

    def __init__(
        self,
        *,
        rollups: EventRollups,
        claims: AlertClaims,
        policy: Callable[[], AlertPolicy],
        mailer: Mailer,
        admin_emails: Callable[[], Sequence[str]],
        events: EventSink,
        clock: Clock,
        public_url: str,
        webhook: Webhook = post_webhook,
    ) -> None:
        self.rollups = rollups
        self.claims = claims
        self.policy = policy
        self._mailer = mailer
        self._admin_emails = admin_emails
        self._events = events
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._webhook = webhook
        #: (kind, hour) of the crossings this process claimed or found claimed.
        self._seen: set[tuple[str, int]] = set()

    def tick(self) -> list[Crossing]:
        """Roll up what is new, then alert on it; return the alerts this call sent."""
        now = self._clock()
        self.rollups.roll(now=now)
        return self.check(now=now)

    def check(self, *, now: float) -> list[Crossing]:
        """Send the alerts of the current hour and the one before (a backlog of older
        events rolled up late alerts nobody) that no process sent yet, whoever rolled
        their events up."""
        current = hour_of(now)
        policy = self.policy()
        if not policy.enabled:
            return []
        hourly = self.rollups.hourly(current - 1, current)
        sent = []
        for crossing in crossings(policy, hourly, [current - 1, current]):
            key = (crossing.kind, crossing.hour)
            if key in self._seen:
                continue
            if self.claims.claim(crossing.kind, crossing.hour, now=now, details=crossing.to_json()):
                self._send(crossing, policy, now)
                sent.append(crossing)
            self._seen.add(key)
            if len(self._seen) > _SEEN_KEPT:
                self._seen = {seen for seen in self._seen if seen[1] >= current - 1}
        return sent

    def schedule(self) -> Periodic:
        """The server's background rollup: :meth:`tick` every :data:`ROLLUP_INTERVAL_S`
        (several processes may run it at once: batches and alerts are claimed)."""
        return Periodic(
            "passgate-rollups",
            self.tick,
            interval_s=ROLLUP_INTERVAL_S,
            what="rolling events up for the dashboard and the security alerts",
        )

    def purge(self, now: float) -> int:
        """Delete aggregates and alert records past their retention; return how many."""
        hour = hour_of(now)
        return self.rollups.purge(hour - ROLLUP_RETENTION_H) + self.claims.purge(
            hour - ALERTS_RETENTION_H
        )

    def _send(self, crossing: Crossing, policy: AlertPolicy, now: float) -> None:
        title = TITLES[crossing.kind]
        what = describe(crossing)
        when = _hour_text(crossing.hour)
        mailed = self._mail(
            f"passgate: {title.lower()} detected ({when})",
            f"{title} detected in the hour from {when}: {what}.\n\n"
            f"See the attack dashboard: {self._public_url}/admin\n"
            "Change the thresholds with `passgate alerts set` or PATCH "
            "/api/v2/passgate/security-alerts. You get one alert per threat and hour.\n",
        )
        hook = "not configured"
        if policy.webhook_url is not None:
            body = {
                "type": ALERT_EVENT,
                "kind": crossing.kind,
                "title": title,
                "hour": log_date(crossing.hour * HOUR_S),
                "date": log_date(now),
                "counts": dict(crossing.counts),
                "threshold": dict(crossing.threshold),
                "description": f"{title}: {what}",
            }
            try:
                self._webhook(policy.webhook_url, body)
                hook = "sent"
            except Exception as exc:
                # The URL is the administrator's own setting, yet may carry a token in
                # its query: the error's class only.
                logger.warning("security alert webhook failed: %s", type(exc).__name__)
                hook = f"failed: {type(exc).__name__}"
        self._events.emit(
            Event(
                type=ALERT_EVENT,
                date=now,
                description=f"{title}: {what}",
                details={
                    **crossing.to_json(),
                    "hour": log_date(crossing.hour * HOUR_S),
                    "emails_sent": mailed,
                    "webhook": hook,
                },
            )
        )
        logger.warning("security alert: %s in the hour from %s: %s", title, when, what)

    def _mail(self, subject: str, text: str) -> int:
        addresses = list(self._admin_emails())
        if not addresses:
            logger.warning("no admin_emails tenant setting: a security alert is not emailed")
        sent = 0
        for address in addresses:
            try:
                self._mailer.send(OutgoingMail(to=address, subject=subject, text=text))
                sent += 1
            except (MailError, ValueError) as exc:
                logger.warning("security alert to %s not sent: %s", address, exc)
        return sent


def security_alerts_for(parts: AlertParts) -> SecurityAlerts:
    """The alerts of a server: its database, mailer, event sink and administrators; the
    thresholds read through its settings store (cached for a second)."""
    store = parts.policies.store
    return SecurityAlerts(
        rollups=EventRollups(parts.engine),
        claims=AlertClaims(parts.engine),
        policy=lambda: read_alert_policy(store),
        mailer=parts.mailer,
        admin_emails=parts.admin_emails,
        events=parts.events,
        clock=parts.clock,
        public_url=parts.public_url,
    )
