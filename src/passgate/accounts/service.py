"""Sign-up and password change for database connections, web-free.

The web layer (:mod:`passgate.web.dbconnections`) hands over parsed body fields and a
:class:`~passgate.domain.login.RequestContext`; this module decides, does, and writes the
events (``ss``/``fs``, ``scpr``/``fcpr``, ``scp``/``fcp``). Refusals are
:class:`AccountError` values (:mod:`passgate.web.errors` answers them in Auth0's
``/dbconnections`` shape). Every method is synchronous and may hash a password or touch
the database: call it from a worker thread.

Attack protection and breached-password detection plug in through :class:`AccountHooks`
(the default does nothing). A hook refuses by raising an :class:`AccountError` or an
:class:`~passgate.errors.OAuthError` (``TooManyAttempts``, ``PasswordLeaked``), which
reaches the caller as a :class:`HookRefused` carrying it.

Password reset: ``request_password_reset`` answers the same for every address (no
enumeration) and returns a :class:`PendingReset` for a real user; ``deliver_password_reset``
then issues a single-use ticket (kind ``"reset"``) and emails the link, off the request
path, so neither the answer nor its timing tells whether the account exists.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from passgate.accounts.model import (
    _MAX_EMAIL,
    _MAX_ID,
    BREACHED_PASSWORD_MESSAGE,
    RESET_KIND,
    RESET_REQUESTED_MESSAGE,
    AccountContext,
    AccountError,
    AccountHooks,
    BadConnection,
    ClientNotEnabled,
    HookRefused,
    InvalidBody,
    InvalidPassword,
    InvalidSignup,
    NoAccountHooks,
    PendingReset,
    ResetForm,
    ResetRefused,
    ResetTicketInvalid,
    SignupDisabled,
    SignupResult,
    UnknownClient,
    UnreadableBody,
    UserStore,
    _Audit,
    _check_email,
    _check_lengths,
    _check_text,
    _check_username,
    _check_username_rules,
    _profile,
    _required,
    _text,
)
from passgate.accounts.password_rules import ConnectionPasswords, PersonalInfo
from passgate.accounts.tickets import Tickets
from passgate.domain.clock import Clock, system_clock
from passgate.domain.connection_options import rules_of
from passgate.domain.events import EventSink
from passgate.domain.login import RequestContext
from passgate.domain.models import Client, Connection, User
from passgate.errors import OAuthError
from passgate.mail.mailer import Mailer, MailError, OutgoingMail
from passgate.storage.counters import OnceMarks
from passgate.storage.directory import DuplicateUser, UnknownConnection
from passgate.support.common_passwords import common_passwords
from passgate.support.passwords import PasswordHasher

__all__ = [
    "BREACHED_PASSWORD_MESSAGE",
    "RESET_KIND",
    "RESET_REQUESTED_MESSAGE",
    "AccountContext",
    "AccountError",
    "AccountHooks",
    "Accounts",
    "BadConnection",
    "ClientNotEnabled",
    "HookRefused",
    "InvalidBody",
    "InvalidPassword",
    "InvalidSignup",
    "NoAccountHooks",
    "PendingReset",
    "ResetForm",
    "ResetRefused",
    "ResetTicketInvalid",
    "SignupDisabled",
    "SignupResult",
    "UnknownClient",
    "UnreadableBody",
    "UserStore",
]

logger = logging.getLogger("passgate.accounts")


class _NoHistory:
    """No password history (an :class:`Accounts` built without one)."""

    def recent(self, user_id: str, count: int) -> list[str]:
        return []

    def keep_current(self, user_id: str, size: int, *, now: float | None = None) -> None:
        return None


# -- the service -----------------------------------------------------------------------
class Accounts:
    def __init__(
        self,
        *,
        users: UserStore,
        hasher: PasswordHasher,
        tickets: Tickets,
        mailer: Mailer,
        events: EventSink,
        clients: Callable[[str], Client | None],
        public_url: str,
        clock: Clock = system_clock,
        hooks: AccountHooks | None = None,
        passwords: ConnectionPasswords | None = None,
        mail_marks: OnceMarks | None = None,
        reset_ttl_s: float = 3600.0,
        reset_mail_interval_s: float = 60.0,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._tickets = tickets
        self._mailer = mailer
        self._events = events
        self._clients = clients
        self.public_url = public_url.rstrip("/")
        self._clock = clock
        #: Replaceable after construction, like ``PasswordLogins.guard``.
        self.hooks: AccountHooks = hooks if hooks is not None else NoAccountHooks()
        #: Each connection's password rules (history kept by the caller's store).
        self.passwords = (
            passwords
            if passwords is not None
            else ConnectionPasswords(
                history=_NoHistory(), verify=hasher.verify, common=common_passwords
            )
        )
        self._marks = mail_marks
        self.reset_ttl_s = reset_ttl_s
        self.reset_mail_interval_s = reset_mail_interval_s

    # -- shared ----------------------------------------------------------------------
    def _emit(self, audit: _Audit, kind: str, details: Mapping[str, Any] | None = None) -> None:
        self._events.emit(audit.event(kind, self._clock(), details or {}))

    def record_failure(self, kind: str, error: AccountError, context: RequestContext) -> None:
        """The event of a request refused before its fields could be read (``fs``...)."""
        self._emit(_Audit(context=context), kind, error.event_details())

    @staticmethod
    def _hook(call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except AccountError:
            raise
        except OAuthError as exc:
            raise HookRefused.from_oauth(exc) from exc

    def _client(self, client_id: str, audit: _Audit) -> Client:
        client = self._clients(client_id)
        if client is None:
            raise UnknownClient(reason="no client has this client_id")
        audit.context = dataclasses.replace(
            audit.context, client_id=client.client_id, client_name=client.name
        )
        return client

    def _connection(self, name: str) -> Connection:
        connection = self._users.connection_by_name(name)
        if connection is None:
            raise BadConnection()
        return connection

    def _run(self, audit: _Audit, success: str, failure: str, work: Callable[[], Any]) -> Any:
        try:
            result = work()
        except AccountError as exc:
            self._emit(audit, failure, exc.event_details())
            raise
        except Exception:
            self._emit(audit, failure, {"error": {"code": "server_error"}})
            raise
        self._emit(audit, success)
        return result

    # -- sign-up ---------------------------------------------------------------------
    def signup(self, fields: Mapping[str, object], context: RequestContext) -> SignupResult:
        """``POST /dbconnections/signup``: create a user, or raise :class:`AccountError`."""
        audit = _Audit(context=context)
        result: SignupResult = self._run(audit, "ss", "fs", lambda: self._signup(fields, audit))
        return result

    def _signup(self, fields: Mapping[str, object], audit: _Audit) -> SignupResult:
        client_id = _required(fields, "client_id", max_length=_MAX_ID)
        audit.context = dataclasses.replace(audit.context, client_id=client_id)
        email = _required(fields, "email", max_length=None)
        audit.user_name = email
        password = _required(fields, "password", max_length=None)
        connection_name = _required(fields, "connection", max_length=_MAX_ID)
        audit.connection = connection_name
        username = _text(fields, "username", max_length=None)
        name, profile = _profile(fields)
        _check_lengths(email, username, name, profile)
        _check_email(email)
        _check_username(username)
        self._client(client_id, audit)
        connection = self._connection(connection_name)
        if not connection.enabled_for(client_id):
            raise ClientNotEnabled(reason="the client is not enabled for the connection")
        rules = rules_of(connection.options)
        if rules.disable_signup:
            raise SignupDisabled(reason="the connection has disable_signup")
        _check_username_rules(username, rules.requires_username, rules.username_bounds)
        context = AccountContext(request=audit.context, connection=connection.name)
        self._hook(self.hooks.before_signup, email, password, context)
        names = (name, profile.given_name, profile.family_name, profile.nickname)
        self.passwords.check(
            connection, password, PersonalInfo(email=email, username=username, names=names)
        )
        password_hash = self._hasher.hash(password)
        del password
        try:
            user = self._users.create_user(
                connection=connection.name,
                email=email,
                password_hash=password_hash,
                username=username,
                name=name,
                profile=profile,
                now=self._clock(),
            )
        except DuplicateUser:
            raise InvalidSignup(reason="the email or username is taken") from None
        except UnknownConnection:
            raise BadConnection() from None
        audit.user_id = user.id
        return SignupResult(user)

    # -- password reset request ------------------------------------------------------
    def request_password_reset(
        self, fields: Mapping[str, object], context: RequestContext
    ) -> PendingReset | None:
        """``POST /dbconnections/change_password``: validate and look the user up.

        Returns the reset to deliver for a real user, ``None`` otherwise; the caller
        answers :data:`RESET_REQUESTED_MESSAGE` in both cases.
        """
        audit = _Audit(context=context)
        try:
            client_id = _required(fields, "client_id", max_length=_MAX_ID)
            audit.context = dataclasses.replace(audit.context, client_id=client_id)
            email = _required(fields, "email", max_length=_MAX_EMAIL)
            audit.user_name = email
            connection_name = _required(fields, "connection", max_length=_MAX_ID)
            audit.connection = connection_name
            client = self._client(client_id, audit)
            connection = self._connection(connection_name)
            if not connection.enabled_for(client.client_id):
                raise ClientNotEnabled(reason="the client is not enabled for the connection")
            user = self._users.find_by_email(connection.name, email)
        except AccountError as exc:
            self._emit(audit, "fcpr", exc.event_details())
            raise
        if user is None:
            self._emit(audit, "fcpr", {"reason": "no user with this email in the connection"})
            return None
        return PendingReset(user=user, client=client, context=audit.context)

    def deliver_password_reset(self, pending: PendingReset) -> bool:
        """Issue the reset ticket and email its link; ``False`` when nothing was sent."""
        user = pending.user
        audit = _Audit(
            context=pending.context,
            connection=user.connection,
            user_id=user.id,
            user_name=user.email,
        )
        now = self._clock()
        if self._marks is not None and not self._marks.once(
            f"reset-mail:{user.id}", ttl_s=self.reset_mail_interval_s, now=now
        ):
            self._emit(audit, "fcpr", {"reason": "a reset email was sent moments ago"})
            return False
        payload = {
            "user_id": user.id,
            "client_id": pending.client.client_id,
            "password_changed_at": user.password_changed_at,
        }
        ticket = self._tickets.issue(RESET_KIND, payload, self.reset_ttl_s)
        link = f"{self.public_url}/reset-password?{urlencode({'ticket': ticket})}"
        try:
            self._mailer.send(self._reset_mail(user, link))
        except MailError as exc:
            logger.warning("password reset email for %s not sent: %s", user.id, exc)
            self._emit(audit, "fcpr", {"reason": "the email could not be sent"})
            return False
        self._emit(audit, "scpr")
        return True

    def _reset_mail(self, user: User, link: str) -> OutgoingMail:
        minutes = max(1, round(self.reset_ttl_s / 60))
        text = (
            "Hello,\n\n"
            f"Someone asked to reset the password of the account {user.email}.\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{link}\n\n"
            "The link works once. If you did not ask for this, ignore this email: "
            "your password stays as it is.\n"
        )
        page = (
            "<p>Hello,</p>"
            f"<p>Someone asked to reset the password of the account "
            f"<strong>{html.escape(user.email)}</strong>.</p>"
            f'<p><a href="{html.escape(link)}">Choose a new password</a> '
            f"(the link works once, within {minutes} minutes).</p>"
            "<p>If you did not ask for this, ignore this email: "
            "your password stays as it is.</p>"
        )
        return OutgoingMail(to=user.email, subject="Reset your password", text=text, html=page)

    # -- the reset page --------------------------------------------------------------
    def _ticket_user(self, payload: Mapping[str, Any] | None) -> User | None:
        if payload is None:
            return None
        user = self._users.get_user(str(payload.get("user_id")))
        stamp = payload.get("password_changed_at")
        if user is None or not isinstance(stamp, int | float):
            return None
        if abs(user.password_changed_at - stamp) > 1e-6:
            return None  # the password changed since the link was sent
        return user

    def reset_form(self, ticket: str) -> ResetForm | None:
        """The form to show for a valid reset ticket (the ticket is not used up)."""
        user = self._ticket_user(self._tickets.peek(RESET_KIND, ticket))
        if user is None:
            return None
        connection = self._users.connection_by_name(user.connection)
        policy = rules_of(connection.options if connection else {}).strength
        return ResetForm(user=user, ticket=ticket, policy=policy)

    def reset_password(
        self, ticket: str, password: str, confirmation: str, context: RequestContext
    ) -> User:
        """Set a new password through a reset ticket, used up only on success.

        Raises :class:`ResetTicketInvalid` (nothing changed), or :class:`ResetRefused` /
        :class:`InvalidPassword` / :class:`HookRefused` (form again, ticket still valid).
        """
        audit = _Audit(context=context)
        user: User = self._run(
            audit,
            "scp",
            "fcp",
            lambda: self._reset_password(ticket, password, confirmation, audit),
        )
        return user

    def _reset_password(self, ticket: str, password: str, confirmation: str, audit: _Audit) -> User:
        payload = self._tickets.peek(RESET_KIND, ticket)
        user = self._ticket_user(payload)
        if payload is None or user is None:
            raise ResetTicketInvalid(reason="the ticket is unknown, used, expired or stale")
        audit.user_id, audit.user_name, audit.connection = user.id, user.email, user.connection
        client_id = payload.get("client_id")
        if isinstance(client_id, str):
            client = self._clients(client_id)
            audit.context = dataclasses.replace(
                audit.context,
                client_id=client_id,
                client_name=client.name if client is not None else None,
            )
        if password != confirmation:
            raise ResetRefused("The passwords do not match.", reason="confirmation mismatch")
        try:
            _check_text(password, "password")
        except InvalidBody as exc:
            raise ResetRefused(exc.description, reason="password is not valid text") from None
        connection = self._connection(user.connection)
        self.passwords.check(connection, password, PersonalInfo.of(user), user=user)
        context = AccountContext(request=audit.context, connection=user.connection)
        self._hook(self.hooks.before_password_change, user, password, context)
        password_hash = self._hasher.hash(password)
        del password, confirmation
        if self._tickets.redeem(RESET_KIND, ticket) is None:
            raise ResetTicketInvalid(reason="the ticket was used meanwhile")
        self.passwords.before_change(connection, user)
        if not self._users.set_password(user.id, password_hash, now=self._clock()):
            raise ResetTicketInvalid(reason="the user no longer exists")
        try:
            self.hooks.after_password_change(user, context)
        except Exception:
            logger.exception("after_password_change failed for %s", user.id)
        return user
