"""Security alerts driven by real attacks through the token and sign-up endpoints, on a
manual clock: one email per administrator, one webhook call and one ``security_alert``
event per threat and hour, not a storm; several processes' alerters send it once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from passgate.domain.events import Event
from passgate.domain.security_alerts import AlertPolicy, patch
from passgate.mail.mailer import OutgoingMail
from passgate.protection.alerts import ALERT_EVENT, SECURITY_ALERTS_KEY, SecurityAlerts
from passgate.storage.event_rollups import EventRollups
from passgate.storage.security_alerts import AlertClaims
from tests.protection_e2e.conftest import StackFactory
from tests.protection_e2e.helpers import CollectingMailer, Stack

pytestmark = pytest.mark.anyio

ADMINS = ["secops@example.com", "oncall@example.com"]
ATTACKER = "203.0.113.66"
HOUR = 3600.0


class Receiver:
    """A local HTTP server that keeps every JSON body POSTed to it, answering ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 204
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts?token=t0ken"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def configure(stack: Stack, webhook: str | None = None, **thresholds: Any) -> None:
    policy = patch(
        AlertPolicy(),
        {
            "credential_stuffing": {"failed_logins_per_hour": 10, "min_accounts": 5},
            "signup_attack": {"signups_per_hour": 5},
            "breached_passwords": {"hits_per_hour": 3},
            "webhook_url": webhook,
            **thresholds,
        },
    )
    stack.passgate.tenant.set(SECURITY_ALERTS_KEY, policy.to_json())
    stack.passgate.tenant.set("admin_emails", ADMINS)
    stack.passgate.policies.store.invalidate()


def persist(stack: Stack) -> None:
    """Write what was emitted to the event log (the buffered sink's job in a server)."""
    stack.passgate.event_log.append([e for e in stack.events.events if e.type != ALERT_EVENT])
    kept = [e for e in stack.events.events if e.type == ALERT_EVENT]
    stack.events.clear()
    for event in kept:
        stack.events.emit(event)


def alert_mails(mailer: CollectingMailer) -> list[OutgoingMail]:
    return [m for m in mailer.sent if "detected" in m.subject]


async def stuff(stack: Stack, accounts: int, *, ticks: int = 1, start: int = 0) -> None:
    """Wrong passwords for ``accounts`` accounts from one forwarded IP, the alerter
    ticking ``ticks`` times along the way (as the servers' rollup thread does)."""
    per_tick = max(1, accounts // ticks)
    async with stack.http() as http:
        for n in range(start, start + accounts):
            answer = await stack.login(http, f"user{n}@example.com", "guess", forwarded=ATTACKER)
            assert answer.status_code in (403, 429), answer.text
            if (n - start + 1) % per_tick == 0:
                persist(stack)
                stack.passgate.alerts.tick()
    persist(stack)
    stack.passgate.alerts.tick()


async def test_credential_stuffing_sends_one_alert_not_a_storm(
    make_stack: StackFactory, receiver: Receiver
) -> None:
    stack = make_stack()
    stack.set_pre_login(2500, 34560)  # let the whole attack through the IP throttle
    configure(stack, webhook=receiver.url)
    await stuff(stack, 40, ticks=8)
    mails = alert_mails(stack.mailer)
    assert sorted(m.to for m in mails) == sorted(ADMINS)
    assert all(m.subject.startswith("passgate: credential stuffing detected") for m in mails)
    assert "failed logins against" in mails[0].text
    assert "/admin" in mails[0].text
    (hook,) = receiver.bodies
    assert hook["type"] == "security_alert"
    assert hook["kind"] == "credential_stuffing"
    assert hook["threshold"] == {"failed_logins_per_hour": 10, "min_accounts": 5}
    assert hook["counts"]["failed_logins"] >= 10
    (event,) = stack.events.of_type(ALERT_EVENT)
    assert event.details["kind"] == "credential_stuffing"
    assert event.details["emails_sent"] == 2
    assert event.details["webhook"] == "sent"
    assert "t0ken" not in json.dumps(event.details)  # the webhook's URL is not logged

    # more of the same attack in the same hour: nothing more
    await stuff(stack, 20, ticks=4, start=40)
    assert len(alert_mails(stack.mailer)) == 2
    assert len(receiver.bodies) == 1
    assert len(stack.events.of_type(ALERT_EVENT)) == 1

    # the attack goes on into the next hour: one more alert, for that hour
    stack.clock.advance(HOUR)
    await stuff(stack, 20, ticks=4, start=60)
    assert len(alert_mails(stack.mailer)) == 4
    assert len(receiver.bodies) == 2
    hours = [e.details["hour"] for e in stack.events.of_type(ALERT_EVENT)]
    assert len(set(hours)) == 2


async def test_one_account_guessed_at_is_no_credential_stuffing(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.set_brute_force(max_attempts=100)
    configure(stack)
    async with stack.http() as http:
        for _ in range(30):
            await stack.login(http, "alice@example.com", "guess", forwarded=ATTACKER)
    persist(stack)
    stack.passgate.alerts.tick()
    assert alert_mails(stack.mailer) == []


async def test_a_signup_burst_sends_one_alert(make_stack: StackFactory) -> None:
    stack = make_stack()
    configure(stack)
    async with stack.http() as http:
        for n in range(12):
            answer = await http.post(
                "/dbconnections/signup",
                json={
                    "client_id": stack.untrusted.id,
                    "email": f"bot{n}@example.com",
                    "password": "a long enough passphrase 9",
                    "connection": "Username-Password-Authentication",
                },
            )
            assert answer.status_code == 200, answer.text
            persist(stack)
            stack.passgate.alerts.tick()
    mails = alert_mails(stack.mailer)
    assert len(mails) == 2
    assert "sign-up attack detected" in mails[0].subject
    (event,) = stack.events.of_type(ALERT_EVENT)
    assert event.details["counts"]["signup_attempts"] == 5
    assert event.details["webhook"] == "not configured"


async def test_breached_password_hits_send_one_alert(make_stack: StackFactory) -> None:
    stack = make_stack()
    configure(stack)
    now = stack.clock()
    for n in range(6):
        stack.passgate.event_log.append(
            [Event("pwd_leak", date=now, ip=f"198.51.100.{n}", user_name=f"u{n}@example.com")]
        )
        stack.passgate.alerts.tick()
    (event,) = stack.events.of_type(ALERT_EVENT)
    assert event.details["kind"] == "breached_passwords"
    assert len(alert_mails(stack.mailer)) == 2


async def test_no_alert_when_disabled_or_for_old_hours(make_stack: StackFactory) -> None:
    stack = make_stack()
    configure(stack, enabled=False)
    now = stack.clock()
    burst = [Event("pwd_leak", date=now, ip="198.51.100.1") for _ in range(5)]
    stack.passgate.event_log.append(burst)
    assert stack.passgate.alerts.tick() == []
    configure(stack, credential_stuffing={"enabled": False})
    # a backlog two hours old, rolled up now, alerts nobody
    old = [Event("pwd_leak", date=now - 2 * HOUR, ip="198.51.100.1") for _ in range(5)]
    stack.passgate.event_log.append(old)
    sent = stack.passgate.alerts.tick()
    assert [c.kind for c in sent] == ["breached_passwords"]  # this hour's, now enabled
    assert stack.passgate.alerts.tick() == []
    assert len(stack.events.of_type(ALERT_EVENT)) == 1


async def test_a_failing_webhook_is_noted_and_the_mail_still_goes(
    make_stack: StackFactory, receiver: Receiver
) -> None:
    stack = make_stack()
    receiver.status = 500
    configure(stack, webhook=receiver.url)
    now = stack.clock()
    stack.passgate.event_log.append([Event("pwd_leak", date=now) for _ in range(3)])
    stack.passgate.alerts.tick()
    (event,) = stack.events.of_type(ALERT_EVENT)
    assert event.details["webhook"] == "failed: HTTPStatusError"
    assert len(receiver.bodies) == 1
    assert len(alert_mails(stack.mailer)) == 2


async def test_alerters_of_several_processes_send_one_alert(make_stack: StackFactory) -> None:
    """Six alerters over the same database (as six workers or instances have), ticking
    at once while the attack is written: one alert in all."""
    stack = make_stack()
    configure(stack)
    engine = stack.passgate.engine
    mailer = CollectingMailer()
    alerters = [
        SecurityAlerts(
            rollups=EventRollups(engine, batch_size=3),
            claims=AlertClaims(engine),
            policy=stack.passgate.alerts.policy,
            mailer=mailer,
            admin_emails=lambda: ADMINS,
            events=stack.events,
            clock=stack.clock,
            public_url="https://passgate.test",
        )
        for _ in range(6)
    ]
    now = stack.clock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def tick(alerter: SecurityAlerts) -> None:
        try:
            while not stop.is_set():
                alerter.tick()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(a,)) for a in alerters]
    for thread in threads:
        thread.start()
    for n in range(30):
        stack.passgate.event_log.append(
            [Event("pwd_leak", date=now, ip=f"198.51.100.{n}", user_name=f"u{n}")]
        )
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for alerter in alerters:
        alerter.tick()
    assert len(stack.events.of_type(ALERT_EVENT)) == 1
    assert sorted(m.to for m in alert_mails(mailer)) == sorted(ADMINS)
    rollups = EventRollups(engine)
    assert rollups.pending() == 0
    hour = int(now // HOUR)
    assert rollups.hourly(hour, hour)[hour, "breached_passwords"] == 30  # each counted once
