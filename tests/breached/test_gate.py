"""Sign-up and password-change stages, the account hooks, and administrator digests.

The login stage through HTTP is in ``test_login_stage.py``; the world built there is
reused here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from passgate.accounts.service import AccountContext, HookRefused
from passgate.accounts.tickets import Tickets
from passgate.breached.gate import BreachedAccountHooks, BreachedPasswords
from passgate.breached.notify import BreachedNotifier, BreachNotice, period_start
from passgate.domain.login import RequestContext
from passgate.domain.models import User
from passgate.errors import PasswordLeaked, TooManyAttempts
from passgate.mail.mailer import MailError, OutgoingMail
from passgate.storage.counters_sql import SqlCounters
from passgate.storage.db import make_engine
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.tenant import TenantStore
from passgate.testing import ManualClock
from passgate.web.dbconnections import dbconnections_routes
from passgate.web.errors import error_status
from tests.breached.test_login_stage import (
    ADMINS,
    LEAKED,
    NEW_PASSWORD,
    SAFE,
    TEST_PASSWORD,
    CollectingMailer,
    World,
    client_for,
    make_world,
)

CONTEXT = RequestContext(ip="203.0.113.5", client_ip="203.0.113.5", user_agent="pytest")
# ManualClock's default start, 2027-01-15 08:00 UTC, a Friday.
START = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path, sql_url: str) -> Iterator[World]:
    # No local index: the AUTH0-TEST- prefix is the breached password here.
    world = make_world(tmp_path / "data", sql_url)
    try:
        yield world
    finally:
        world.passgate.close()


def signup_body(world: World, password: str, email: str = "new@example.com") -> dict[str, str]:
    return {
        "client_id": world.client.client_id,
        "email": email,
        "password": password,
        "connection": DEFAULT_CONNECTION,
    }


async def signup(world: World, password: str) -> httpx.Response:
    pages = Starlette(routes=dbconnections_routes(world.accounts()))
    async with client_for(pages) as http:
        return await http.post("/dbconnections/signup", json=signup_body(world, password))


# -- pre-user-registration -------------------------------------------------------------
@pytest.mark.anyio
async def test_signup_with_a_breached_password_is_refused_with_400(world: World) -> None:
    response = await signup(world, TEST_PASSWORD)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == body["error"] == "password_leaked"
    assert body["statusCode"] == 400
    assert "data breach" in body["description"]
    assert world.passgate.directory.find_by_email(DEFAULT_CONNECTION, "new@example.com") is None
    [leak] = world.events.of_type("signup_pwd_leak")
    assert leak.description == "Breached password on signup"
    assert (leak.ip, leak.client_id, leak.user_name, leak.user_id, leak.connection) == (
        "198.51.100.20",
        world.client.client_id,
        "new@example.com",
        None,
        DEFAULT_CONNECTION,
    )
    assert leak.details == {
        "stage": "pre-user-registration",
        "action": "blocked",
        "shields": ["block"],
        "source": "test",
    }
    [failure] = world.events.of_type("fs")
    assert failure.details["error"]["code"] == "password_leaked"
    assert TEST_PASSWORD not in str([event.to_json() for event in world.events.events])


@pytest.mark.anyio
async def test_signup_with_a_safe_password_passes(world: World) -> None:
    response = await signup(world, SAFE)
    assert response.status_code == 200, response.text
    assert not world.events.of_type("signup_pwd_leak")


@pytest.mark.anyio
async def test_signup_stage_admin_notification_without_block(world: World) -> None:
    world.set_policy(pre_user_registration_shields=["admin_notification"])
    response = await signup(world, TEST_PASSWORD)
    assert response.status_code == 200, response.text
    [leak] = world.events.of_type("signup_pwd_leak")
    assert leak.details["action"] == "allowed"
    world.drain()
    [alert] = world.mailer.to(ADMINS[0])
    assert "sign-up" in alert.subject
    assert "new@example.com" in alert.text


@pytest.mark.anyio
async def test_a_disabled_policy_skips_the_signup_stage(world: World) -> None:
    world.set_policy(enabled=False)
    response = await signup(world, TEST_PASSWORD)
    assert response.status_code == 200, response.text
    assert not world.events.of_type("signup_pwd_leak")


# -- pre-change-password ---------------------------------------------------------------
def reset_ticket(world: World, user: User) -> str:
    return world.passgate.tickets.issue(
        "reset",
        {
            "user_id": user.id,
            "client_id": world.client.client_id,
            "password_changed_at": user.password_changed_at,
        },
        3600,
    )


def test_a_breached_new_password_is_refused_and_the_old_one_kept(world: World) -> None:
    user = world.user("lee@example.com", SAFE)
    ticket = reset_ticket(world, user)
    accounts = world.accounts()
    with pytest.raises(HookRefused) as caught:
        accounts.reset_password(ticket, TEST_PASSWORD, TEST_PASSWORD, CONTEXT)
    assert (caught.value.code, error_status(caught.value)) == ("password_leaked", 400)
    [leak] = world.events.of_type("reset_pwd_leak")
    assert leak.description == "Breached password on reset"
    assert (leak.ip, leak.user_id, leak.user_name) == ("203.0.113.5", user.id, user.email)
    assert leak.details["stage"] == "pre-change-password"
    assert world.events.of_type("fcp")
    assert world.fresh(user).password_changed_at == user.password_changed_at
    # The ticket still works for an acceptable password.
    accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert world.fresh(user).password_changed_at == world.clock()


def test_the_change_stage_can_be_monitoring_only(world: World) -> None:
    world.set_policy(pre_change_password_shields=[])
    user = world.user("lee@example.com", SAFE)
    world.accounts().reset_password(
        reset_ticket(world, user), TEST_PASSWORD, TEST_PASSWORD, CONTEXT
    )
    [leak] = world.events.of_type("reset_pwd_leak")
    assert leak.details["action"] == "allowed"
    world.drain()
    assert world.mailer.sent == []


def test_a_new_password_lifts_the_leaked_mark(world: World) -> None:
    user = world.user("lee@example.com", TEST_PASSWORD)
    world.passgate.directory.mark_password_leaked(user.id)
    world.accounts().reset_password(reset_ticket(world, user), NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert not world.fresh(user).password_leaked


# -- composing the hooks ---------------------------------------------------------------
class RefusingHooks:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        self.calls.append("signup")
        raise TooManyAttempts("throttled")

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        self.calls.append("change")

    def after_password_change(self, user: User, context: AccountContext) -> None:
        self.calls.append("after")


def test_inner_hooks_run_first_and_can_refuse_before_any_check(world: World) -> None:
    inner = RefusingHooks()
    hooks = BreachedAccountHooks(world.passgate.breached, inner=inner)
    context = AccountContext(request=CONTEXT, connection=DEFAULT_CONNECTION)
    with pytest.raises(TooManyAttempts):
        hooks.before_signup("new@example.com", TEST_PASSWORD, context)
    assert not world.events.of_type("signup_pwd_leak")
    user = world.user("lee@example.com", SAFE)
    hooks.before_password_change(user, NEW_PASSWORD, context)
    hooks.after_password_change(user, context)
    assert inner.calls == ["signup", "change", "after"]


# -- digests ---------------------------------------------------------------------------
def test_periods_are_utc_days_iso_weeks_and_calendar_months() -> None:
    assert period_start("daily", START) == datetime(2027, 1, 15, tzinfo=UTC)
    assert period_start("weekly", START) == datetime(2027, 1, 11, tzinfo=UTC)  # Monday
    assert period_start("monthly", START) == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="frequency"):
        period_start("hourly", START)


class FlakyMailer(CollectingMailer):
    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    def send(self, message: OutgoingMail) -> None:
        if self.failing:
            raise MailError("SMTP server smtp://mx.example:25 answered 451 try later")
        super().send(message)


def make_notifier(
    sql_url: str, mailer: CollectingMailer, clock: ManualClock
) -> tuple[BreachedNotifier, sa.Engine]:
    engine = make_engine(sql_url)
    tenant = TenantStore(engine)
    notifier = BreachedNotifier(
        engine=engine,
        mailer=mailer,
        tickets=Tickets(engine, tenant.digest_key(), clock),
        marks=SqlCounters(engine),
        public_url="https://id.example.com",
        admin_emails=lambda: ADMINS,
        clock=clock,
        background=False,
    )
    return notifier, engine


def notice(at: float, user: str = "lee@example.com") -> BreachNotice:
    return BreachNotice(
        type="pwd_leak", date=at, ip="203.0.113.5", blocked=True, user_name=user, user_id="u1"
    )


@pytest.fixture
def notifiers(sql_url: str) -> Iterator[tuple[list[BreachedNotifier], CollectingMailer]]:
    mailer = CollectingMailer()
    clock = ManualClock(START)
    built = [make_notifier(sql_url, mailer, clock) for _ in range(2)]
    try:
        yield [notifier for notifier, _ in built], mailer
    finally:
        for notifier, engine in built:
            notifier.close()
            engine.dispose()


def race(first: BreachedNotifier, second: BreachedNotifier, at: float) -> list[list[str]]:
    """``send_due_digests(at)`` on both notifiers at once, from two threads."""
    barrier = threading.Barrier(2)
    results: list[list[str]] = []

    def send(notifier: BreachedNotifier) -> None:
        barrier.wait()
        results.append(notifier.send_due_digests(at))

    threads = [threading.Thread(target=send, args=(notifier,)) for notifier in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_racing_senders_send_one_digest_per_period(
    notifiers: tuple[list[BreachedNotifier], CollectingMailer],
) -> None:
    (first, second), mailer = notifiers
    first.notify_admins(notice(START, "early@example.com"), ["monthly"])
    days = 5
    for day in range(days):
        today = START + day * 86400
        first.notify_admins(notice(today), ["daily"])
        second.notify_admins(notice(today + 60, "kim@example.com"), ["daily"])
        assert len(mailer.sent) == day * len(ADMINS)
        assert sorted(race(first, second, today + 86400)) == [[], ["daily"]]
    for address in ADMINS:
        digests = mailer.to(address)
        assert len(digests) == days
        for digest in digests:
            assert digest.subject == "passgate: 2 breached passwords used (daily digest)"
            assert "lee@example.com" in digest.text
            assert "kim@example.com" in digest.text
    # The monthly digest waits for February, then goes once.
    february = datetime(2027, 2, 1, 0, 1, tzinfo=UTC).timestamp()
    assert first.send_due_digests(february) == ["monthly"]
    assert second.send_due_digests(february + 60) == []
    assert "early@example.com" in mailer.to(ADMINS[0])[-1].text


def test_an_unsent_digest_is_kept_for_the_next_period(sql_url: str) -> None:
    mailer = FlakyMailer()
    clock = ManualClock(START)
    notifier, engine = make_notifier(sql_url, mailer, clock)
    try:
        notifier.notify_admins(notice(START), ["daily"])
        mailer.failing = True
        assert notifier.send_due_digests(START + 86400) == []
        mailer.failing = False
        assert notifier.send_due_digests(START + 86400 + 300) == []  # period already claimed
        assert notifier.send_due_digests(START + 2 * 86400) == ["daily"]
        [digest, _] = mailer.sent
        assert "lee@example.com" in digest.text
    finally:
        notifier.close()
        engine.dispose()


def test_immediately_and_a_digest_can_both_be_chosen(
    notifiers: tuple[list[BreachedNotifier], CollectingMailer],
) -> None:
    (notifier, _), mailer = notifiers
    notifier.notify_admins(notice(START), ["immediately", "weekly"])
    assert len(mailer.to(ADMINS[0])) == 1
    assert notifier.send_due_digests(START + 86400) == []  # Saturday: same ISO week
    assert notifier.send_due_digests(START + 3 * 86400) == ["weekly"]  # Monday
    assert len(mailer.to(ADMINS[0])) == 2


class BrokenMarks:
    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        raise RuntimeError("counters backend down")


def test_unavailable_marks_keep_the_event_and_skip_the_emails(world: World) -> None:
    p = world.passgate
    breached = BreachedPasswords(
        p.breached.checker,
        policies=p.policies.get_breached_password,
        users=p.directory,
        events=p.events,
        marks=BrokenMarks(),
        notifier=p.breached.notifier,
        clock=world.clock,
    )
    user = world.user("lee@example.com", TEST_PASSWORD)
    with pytest.raises(PasswordLeaked):
        breached.check_login(user, TEST_PASSWORD, CONTEXT)
    assert len(world.events.of_type("pwd_leak")) == 1
    assert world.fresh(user).password_leaked
    world.drain()
    assert world.mailer.sent == []


def test_leaked_corpus_password_without_index_is_not_breached(world: World) -> None:
    """Without an index only the AUTH0-TEST- prefix (and an upstream) can say breached."""
    user = world.user("lee@example.com", LEAKED)
    world.passgate.breached.check_login(user, LEAKED, CONTEXT)
    assert not world.events.of_type("pwd_leak")
