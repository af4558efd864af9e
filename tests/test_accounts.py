"""Sign-up and password change, without the web layer (SQLite and PostgreSQL).

The helpers here (``Harness``, ``make_harness``, ``RecordingHooks``...) are shared with
``tests/web/test_dbconnections.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from passgate.accounts.service import (
    BREACHED_PASSWORD_MESSAGE,
    AccountContext,
    Accounts,
    BadConnection,
    HookRefused,
    InvalidBody,
    InvalidPassword,
    InvalidSignup,
    ResetRefused,
    ResetTicketInvalid,
    UnknownClient,
)
from passgate.accounts.tickets import Tickets
from passgate.domain.events import Event
from passgate.domain.login import RequestContext
from passgate.domain.models import Client, User
from passgate.domain.password_policy import StrengthPolicy
from passgate.errors import PasswordLeaked, TooManyAttempts
from passgate.mail.mailer import Mailer, MailError, OutgoingMail
from passgate.storage.applications import Applications
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.tenant import TenantStore
from passgate.support.passwords import PasswordHasher
from passgate.testing import CapturedEvents, ManualClock
from passgate.web.errors import error_body, error_status

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
PUBLIC_URL = "https://id.example.com/"
CONTEXT = RequestContext(ip="203.0.113.7", client_ip="203.0.113.7", user_agent="pytest")


# -- helpers shared with the web tests ---------------------------------------------------
class CollectingMailer:
    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []

    def send(self, message: OutgoingMail) -> None:
        self.sent.append(message)


class FailingMailer:
    def send(self, message: OutgoingMail) -> None:
        raise MailError("SMTP server smtp://mx.example:25 answered 451 try later")


class OnceInMemory:
    """An in-memory :class:`~passgate.storage.counters.OnceMarks`."""

    def __init__(self) -> None:
        self.until: dict[str, float] = {}

    def once(self, key: str, *, ttl_s: float, now: float) -> bool:
        if self.until.get(key, 0.0) > now:
            return False
        self.until[key] = now + ttl_s
        return True


@dataclasses.dataclass
class RecordingHooks:
    """Records every hook call; ``refuse_*`` and ``fail_after`` make a hook raise."""

    signups: list[tuple[str, str, AccountContext]] = dataclasses.field(default_factory=list)
    changes: list[tuple[User, str, AccountContext]] = dataclasses.field(default_factory=list)
    afters: list[tuple[User, AccountContext]] = dataclasses.field(default_factory=list)
    refuse_signup: Exception | None = None
    refuse_change: Exception | None = None
    fail_after: Exception | None = None

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        self.signups.append((email, password, context))
        if self.refuse_signup is not None:
            raise self.refuse_signup

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        self.changes.append((user, password, context))
        if self.refuse_change is not None:
            raise self.refuse_change

    def after_password_change(self, user: User, context: AccountContext) -> None:
        self.afters.append((user, context))
        if self.fail_after is not None:
            raise self.fail_after

    @property
    def called(self) -> bool:
        return bool(self.signups or self.changes or self.afters)


@dataclasses.dataclass
class Harness:
    accounts: Accounts
    directory: Directory
    tickets: Tickets
    hasher: PasswordHasher
    events: CapturedEvents
    clock: ManualClock
    hooks: RecordingHooks
    client: Client
    mailer: Mailer

    def signup_fields(self, **overrides: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "client_id": self.client.client_id,
            "email": "ada@example.com",
            "password": PASSWORD,
            "connection": DEFAULT_CONNECTION,
        }
        fields.update(overrides)
        return {name: value for name, value in fields.items() if value is not None}

    def create_user(self, email: str = "ada@example.com", password: str = PASSWORD) -> User:
        return self.directory.create_user(
            connection=DEFAULT_CONNECTION,
            email=email,
            password_hash=self.hasher.hash(password),
            now=self.clock(),
        )

    def can_log_in(self, identifier: str, password: str) -> bool:
        connection = self.directory.connection_by_name(DEFAULT_CONNECTION)
        assert connection is not None
        found = self.directory.find_for_login(connection.id, identifier)
        return found is not None and self.hasher.verify(found[1], password)

    def reset_ticket(self, user: User) -> str:
        """Request a reset for ``user`` and return the ticket from the emailed link."""
        pending = self.accounts.request_password_reset(
            {
                "client_id": self.client.client_id,
                "email": user.email,
                "connection": DEFAULT_CONNECTION,
            },
            CONTEXT,
        )
        assert pending is not None
        assert self.accounts.deliver_password_reset(pending)
        assert isinstance(self.mailer, CollectingMailer)
        return ticket_of(self.mailer.sent[-1])


def ticket_of(message: OutgoingMail) -> str:
    return ticket_in_text(message.text)


def ticket_in_text(text: str) -> str:
    """The ticket of the reset link in an email's text."""
    link = next(word for word in text.split() if word.startswith("https://"))
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://id.example.com/reset-password"
    )
    return parse_qs(parts.query)["ticket"][0]


def make_harness(
    engine: sa.Engine,
    *,
    mailer: Mailer | None = None,
    clock: ManualClock | None = None,
    **options: object,
) -> Harness:
    clock = clock or ManualClock()
    directory = Directory(engine)
    directory.ensure_connection(DEFAULT_CONNECTION)
    key = TenantStore(engine).digest_key()
    client, _ = Applications(engine, key).create_client(
        name="Signup app", app_type="spa", auth_method="none", grant_types=["password"]
    )
    hasher = PasswordHasher(memory_kib=8, time_cost=1, parallelism=1)
    tickets = Tickets(engine, key, clock)
    events = CapturedEvents()
    hooks = RecordingHooks()
    mailer = mailer if mailer is not None else CollectingMailer()
    lookup: Callable[[str], Client | None] = Applications(engine, key).get_client
    accounts = Accounts(
        users=directory,
        hasher=hasher,
        tickets=tickets,
        mailer=mailer,
        events=events,
        clients=lookup,
        public_url=PUBLIC_URL,
        clock=clock,
        hooks=hooks,
        **options,  # type: ignore[arg-type]
    )
    return Harness(accounts, directory, tickets, hasher, events, clock, hooks, client, mailer)


def assert_no_secret_in(events: list[Event], *secrets: str) -> None:
    dumped = json.dumps([event.to_json() for event in events])
    for secret in secrets:
        assert secret not in dumped


@pytest.fixture
def h(engine: sa.Engine) -> Harness:
    return make_harness(engine)


# -- sign-up -----------------------------------------------------------------------------
def test_signup_creates_the_user_and_answers_auth0s_shape(h: Harness) -> None:
    result = h.accounts.signup(h.signup_fields(username="ada", name="Ada L."), CONTEXT)
    body = result.body()
    assert body == {
        "_id": result.user.id.removeprefix("auth0|"),
        "email": "ada@example.com",
        "email_verified": False,
        "username": "ada",
        "name": "Ada L.",
    }
    assert result.user.id.startswith("auth0|")
    assert h.can_log_in("ada@example.com", PASSWORD)
    assert h.can_log_in("ada", PASSWORD)
    assert not h.can_log_in("ada@example.com", "wrong password")


def test_signup_writes_an_ss_event_without_the_password(h: Harness) -> None:
    result = h.accounts.signup(h.signup_fields(), CONTEXT)
    [event] = h.events.events
    assert event.type == "ss"
    assert (event.ip, event.client_ip, event.user_agent) == ("203.0.113.7", "203.0.113.7", "pytest")
    assert (event.client_id, event.client_name) == (h.client.client_id, "Signup app")
    assert (event.connection, event.user_id, event.user_name) == (
        DEFAULT_CONNECTION,
        result.user.id,
        "ada@example.com",
    )
    assert event.date == h.clock()
    assert_no_secret_in(h.events.events, PASSWORD)


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.COM"])
def test_a_taken_email_is_an_invalid_signup_that_says_no_more(h: Harness, email: str) -> None:
    h.accounts.signup(h.signup_fields(), CONTEXT)
    with pytest.raises(InvalidSignup) as caught:
        h.accounts.signup(h.signup_fields(email=email), CONTEXT)
    assert error_body(caught.value) == {
        "name": "BadRequestError",
        "code": "invalid_signup",
        "description": "Invalid sign up",
        "statusCode": 400,
        "error": "invalid_signup",
        "error_description": "Invalid sign up",
    }
    failure = h.events.of_type("fs")[-1]
    assert failure.details["error"] == {"code": "invalid_signup", "message": "Invalid sign up"}
    assert failure.user_id is None
    assert_no_secret_in(h.events.events, PASSWORD)


def test_a_taken_username_is_an_invalid_signup(h: Harness) -> None:
    h.accounts.signup(h.signup_fields(username="ada"), CONTEXT)
    with pytest.raises(InvalidSignup):
        h.accounts.signup(h.signup_fields(email="other@example.com", username="ADA"), CONTEXT)


@pytest.mark.parametrize(
    ("password", "rule", "message"),
    [
        ("short", "lengthAtLeast", "at least 8 characters"),
        ("x" * 4097, "lengthAtMost", "at most 4096 characters"),
    ],
)
def test_the_password_policy_refuses_with_a_clear_message(
    h: Harness, password: str, rule: str, message: str
) -> None:
    with pytest.raises(InvalidPassword) as caught:
        h.accounts.signup(h.signup_fields(password=password), CONTEXT)
    body = error_body(caught.value)
    assert body["code"] == "invalid_password"
    assert body["name"] == "PasswordStrengthError"
    assert body["statusCode"] == 400
    assert message in body["error_description"]
    failed = [item["code"] for item in body["description"]["rules"] if not item["verified"]]
    assert failed == [rule]
    assert h.directory.find_by_email(DEFAULT_CONNECTION, "ada@example.com") is None
    assert h.events.of_type("fs")[0].details["reason"] == rule


def test_the_policy_bounds_are_inclusive(h: Harness) -> None:
    h.accounts.signup(h.signup_fields(password="12345678"), CONTEXT)
    h.accounts.signup(h.signup_fields(email="b@example.com", password="y" * 4096), CONTEXT)


def test_a_policy_needs_a_known_level() -> None:
    with pytest.raises(ValueError, match="level"):
        StrengthPolicy(level="medium")
    assert StrengthPolicy(level="low", min_length=8).summary() == (
        "* At least 8 characters in length\n* At most 4096 characters in length"
    )


@pytest.mark.parametrize("field", ["client_id", "email", "password", "connection"])
def test_a_missing_field_is_named(h: Harness, field: str) -> None:
    fields = h.signup_fields()
    del fields[field]
    with pytest.raises(InvalidBody, match=f"Missing required parameter: {field}"):
        h.accounts.signup(fields, CONTEXT)
    assert h.events.of_type("fs")[0].details["error"]["code"] == "invalid_body"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": 5}, "email must be a string"),
        ({"password": ["a", "list"]}, "password must be a string"),
        ({"email": "not-an-email"}, "Invalid email address"),
        ({"email": "a@b@example.com"}, "Invalid email address"),
        ({"email": "a,b@example.com"}, "Invalid email address"),
        ({"email": "a@example.com."}, "Invalid email address"),
        ({"email": "x" * 320 + "@example.com"}, "too long"),
        ({"username": "has space"}, "Invalid username"),
        ({"username": "at@sign"}, "Invalid username"),
        ({"name": "n" * 257}, "name is too long"),
        ({"email": "nul\x00@example.com"}, "NUL"),
    ],
)
def test_malformed_fields_are_refused(
    h: Harness, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidBody, match=message):
        h.accounts.signup(h.signup_fields(**overrides), CONTEXT)


def test_an_unknown_client_is_refused(h: Harness) -> None:
    with pytest.raises(UnknownClient):
        h.accounts.signup(h.signup_fields(client_id="nope"), CONTEXT)
    assert not h.hooks.called


def test_an_unknown_connection_is_refused(h: Harness) -> None:
    with pytest.raises(BadConnection) as caught:
        h.accounts.signup(h.signup_fields(connection="Other-DB"), CONTEXT)
    assert caught.value.code == "bad.connection"
    assert not h.hooks.called


def test_before_signup_sees_the_attempt(h: Harness) -> None:
    h.accounts.signup(h.signup_fields(), CONTEXT)
    [(email, password, context)] = h.hooks.signups
    assert (email, password) == ("ada@example.com", PASSWORD)
    assert context.connection == DEFAULT_CONNECTION
    assert context.request.ip == "203.0.113.7"
    assert context.request.client_id == h.client.client_id


def test_a_throttled_signup_is_a_429_and_creates_nothing(h: Harness) -> None:
    h.hooks.refuse_signup = TooManyAttempts("We have detected suspicious login behavior.")
    with pytest.raises(HookRefused) as caught:
        h.accounts.signup(h.signup_fields(), CONTEXT)
    assert error_status(caught.value) == 429
    assert error_body(caught.value)["code"] == "too_many_attempts"
    assert h.directory.find_by_email(DEFAULT_CONNECTION, "ada@example.com") is None
    assert h.events.of_type("fs")[0].details["error"]["code"] == "too_many_attempts"


def test_a_breached_password_at_signup_is_a_400_password_leaked(h: Harness) -> None:
    h.hooks.refuse_signup = PasswordLeaked()
    with pytest.raises(HookRefused) as caught:
        h.accounts.signup(h.signup_fields(), CONTEXT)
    assert error_status(caught.value) == 400
    assert error_body(caught.value)["code"] == "password_leaked"
    assert caught.value.description == BREACHED_PASSWORD_MESSAGE
    assert h.directory.find_by_email(DEFAULT_CONNECTION, "ada@example.com") is None


# -- password reset request --------------------------------------------------------------
def reset_fields(h: Harness, email: str) -> dict[str, object]:
    return {"client_id": h.client.client_id, "email": email, "connection": DEFAULT_CONNECTION}


def test_a_reset_for_an_unknown_email_sends_nothing(h: Harness) -> None:
    assert h.accounts.request_password_reset(reset_fields(h, "ghost@example.com"), CONTEXT) is None
    [event] = h.events.events
    assert event.type == "fcpr"
    assert event.user_name == "ghost@example.com"


def test_a_reset_emails_a_single_use_link_to_a_real_user(h: Harness) -> None:
    user = h.create_user()
    pending = h.accounts.request_password_reset(reset_fields(h, "ADA@example.com"), CONTEXT)
    assert pending is not None
    assert pending.user.id == user.id
    assert h.accounts.deliver_password_reset(pending)
    assert isinstance(h.mailer, CollectingMailer)
    [message] = h.mailer.sent
    assert message.to == "ada@example.com"
    assert message.subject == "Reset your password"
    assert message.html is not None
    ticket = ticket_of(message)
    assert ticket in message.html
    form = h.accounts.reset_form(ticket)
    assert form is not None
    assert form.user.id == user.id
    [event] = h.events.of_type("scpr")
    assert (event.user_id, event.client_id) == (user.id, h.client.client_id)
    assert_no_secret_in(h.events.events, ticket)


def test_reset_requests_check_client_and_connection(h: Harness) -> None:
    with pytest.raises(UnknownClient):
        h.accounts.request_password_reset(
            {**reset_fields(h, "a@example.com"), "client_id": "x"}, CONTEXT
        )
    with pytest.raises(BadConnection):
        h.accounts.request_password_reset(
            {**reset_fields(h, "a@example.com"), "connection": "x"}, CONTEXT
        )
    with pytest.raises(InvalidBody, match="email"):
        h.accounts.request_password_reset({"client_id": h.client.client_id}, CONTEXT)
    assert [event.type for event in h.events.events] == ["fcpr"] * 3


def test_reset_emails_to_one_user_are_spaced_out(engine: sa.Engine) -> None:
    h = make_harness(engine, mail_marks=OnceInMemory(), reset_mail_interval_s=60.0)
    h.create_user()
    fields = reset_fields(h, "ada@example.com")
    for expected in (True, False):
        pending = h.accounts.request_password_reset(fields, CONTEXT)
        assert pending is not None
        assert h.accounts.deliver_password_reset(pending) is expected
    h.clock.advance(61)
    pending = h.accounts.request_password_reset(fields, CONTEXT)
    assert pending is not None
    assert h.accounts.deliver_password_reset(pending)
    assert isinstance(h.mailer, CollectingMailer)
    assert len(h.mailer.sent) == 2


def test_a_failed_delivery_is_an_fcpr_event_not_an_exception(engine: sa.Engine) -> None:
    h = make_harness(engine, mailer=FailingMailer())
    h.create_user()
    pending = h.accounts.request_password_reset(reset_fields(h, "ada@example.com"), CONTEXT)
    assert pending is not None
    assert h.accounts.deliver_password_reset(pending) is False
    assert h.events.of_type("fcpr")[0].details == {"reason": "the email could not be sent"}


# -- the reset itself --------------------------------------------------------------------
def test_a_reset_sets_the_password_once_and_runs_the_hooks(h: Harness) -> None:
    user = h.create_user()
    h.directory.mark_password_leaked(user.id)
    ticket = h.reset_ticket(user)
    h.clock.advance(5)
    changed = h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert changed.id == user.id
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)
    assert not h.can_log_in("ada@example.com", PASSWORD)
    after = h.directory.get_user(user.id)
    assert after is not None
    assert not after.password_leaked
    assert after.password_changed_at == h.clock()
    [(hook_user, password, _)] = h.hooks.changes
    assert (hook_user.id, password) == (user.id, NEW_PASSWORD)
    [(after_user, context)] = h.hooks.afters
    assert after_user.id == user.id
    assert context.request.client_id == h.client.client_id
    assert context.connection == DEFAULT_CONNECTION
    [event] = h.events.of_type("scp")
    assert (event.user_id, event.client_id, event.connection) == (
        user.id,
        h.client.client_id,
        DEFAULT_CONNECTION,
    )
    assert_no_secret_in(h.events.events, NEW_PASSWORD, PASSWORD, ticket)
    with pytest.raises(ResetTicketInvalid):
        h.accounts.reset_password(ticket, "yet another password", "yet another password", CONTEXT)
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)
    assert h.accounts.reset_form(ticket) is None


def test_a_mismatched_confirmation_keeps_the_ticket(h: Harness) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    with pytest.raises(ResetRefused, match="do not match"):
        h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD + "!", CONTEXT)
    assert h.can_log_in("ada@example.com", PASSWORD)
    assert h.events.of_type("fcp")[0].details["reason"] == "confirmation mismatch"
    h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)


def test_a_weak_new_password_keeps_the_ticket(h: Harness) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    with pytest.raises(InvalidPassword):
        h.accounts.reset_password(ticket, "short", "short", CONTEXT)
    assert h.accounts.reset_form(ticket) is not None
    assert h.hooks.changes == []


def test_an_expired_ticket_changes_nothing(h: Harness) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    h.clock.advance(3600)
    assert h.accounts.reset_form(ticket) is None
    with pytest.raises(ResetTicketInvalid):
        h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert h.can_log_in("ada@example.com", PASSWORD)
    assert h.events.of_type("fcp")[0].user_id is None


def test_a_newer_password_voids_older_links(h: Harness) -> None:
    user = h.create_user()
    first = h.reset_ticket(user)
    second = h.reset_ticket(user)
    h.clock.advance(1)
    h.accounts.reset_password(second, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert h.accounts.reset_form(first) is None
    with pytest.raises(ResetTicketInvalid):
        h.accounts.reset_password(first, "attacker chosen!", "attacker chosen!", CONTEXT)
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)


def test_a_breached_new_password_is_refused_and_keeps_the_ticket(h: Harness) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    h.hooks.refuse_change = PasswordLeaked()
    with pytest.raises(HookRefused) as caught:
        h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert (error_status(caught.value), caught.value.code) == (400, "password_leaked")
    assert h.can_log_in("ada@example.com", PASSWORD)
    assert h.hooks.afters == []
    h.hooks.refuse_change = None
    h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)


def test_a_failing_after_hook_does_not_undo_the_change(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    h.hooks.fail_after = RuntimeError("redis down")
    h.accounts.reset_password(ticket, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)
    assert "after_password_change failed" in caplog.text
    assert h.events.of_type("scp")


def test_tickets_of_other_kinds_do_not_reset(h: Harness) -> None:
    user = h.create_user()
    unblock = h.tickets.issue(
        "unblock", {"user_id": user.id, "password_changed_at": user.password_changed_at}, 60
    )
    assert h.accounts.reset_form(unblock) is None
    with pytest.raises(ResetTicketInvalid):
        h.accounts.reset_password(unblock, NEW_PASSWORD, NEW_PASSWORD, CONTEXT)
