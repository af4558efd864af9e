"""Sign-up and password change for database connections, web-free.

The web layer (:mod:`passgate.web.dbconnections`) hands over parsed body fields and a
:class:`~passgate.oauth.guard.RequestContext`; this module decides, does, and writes the
events (``ss``/``fs``, ``scpr``/``fcpr``, ``scp``/``fcp``). Refusals are
:class:`AccountError` values rendered in Auth0's ``/dbconnections`` shape. Every method is
synchronous and may hash a password or touch the database: call it from a worker thread.

Attack protection and breached-password detection plug in through :class:`AccountHooks`
(the default does nothing). A hook refuses by raising an
:class:`~passgate.errors.OAuthError` (``TooManyAttempts`` 429, ``PasswordLeaked`` answered
as 400 at these stages, SPEC §5) or an :class:`AccountError`.

Password reset: ``request_password_reset`` answers the same for every address (no
enumeration) and returns a :class:`PendingReset` for a real user; ``deliver_password_reset``
then issues a single-use ticket (kind ``"reset"``) and emails the link, off the request
path, so neither the answer nor its timing tells whether the account exists.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from passgate.clock import Clock, system_clock
from passgate.errors import PASSWORD_LEAKED_MESSAGE, OAuthError, PassgateError, PasswordLeaked
from passgate.events import Event, EventSink
from passgate.mail import Mailer, MailError, OutgoingMail
from passgate.oauth.guard import RequestContext
from passgate.passwords import PasswordHasher
from passgate.profiles import ProfileError, check_text, read_profile
from passgate.storage.counters import OnceMarks
from passgate.storage.directory import DuplicateUser, UnknownConnection, check_user_fields
from passgate.storage.limits import ValueTooLong, max_length
from passgate.storage.models import Client, Connection, User, UserProfile
from passgate.storage.schema import users
from passgate.tickets import Tickets

__all__ = [
    "BREACHED_PASSWORD_MESSAGE",
    "RESET_KIND",
    "RESET_REQUESTED_MESSAGE",
    "AccountContext",
    "AccountError",
    "AccountHooks",
    "Accounts",
    "BadConnection",
    "HookRefused",
    "InvalidBody",
    "InvalidPassword",
    "InvalidSignup",
    "NoAccountHooks",
    "PasswordPolicy",
    "PendingReset",
    "ResetForm",
    "ResetRefused",
    "ResetTicketInvalid",
    "SignupResult",
    "UnknownClient",
    "UserStore",
]

logger = logging.getLogger("passgate.accounts")

RESET_KIND = "reset"
RESET_REQUESTED_MESSAGE = "We've just sent you an email to reset your password."
BREACHED_PASSWORD_MESSAGE = (
    "This password was previously disclosed through a data breach (not in this "
    "application). Please choose a different password."
)
_MAX_EMAIL = max_length(users.c.email)
_MAX_ID = 128
# One address, no display name, nothing that could split an address list or a header.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f<>()\[\],;:\"\\]+@[^@\s\x00-\x1f\x7f<>()\[\],;:\"\\]+")
_USERNAME = re.compile(r"[^@\s\x00-\x1f\x7f]+")


# -- errors ----------------------------------------------------------------------------
class AccountError(PassgateError):
    """A refusal, answered as ``{"name", "code", "description", "statusCode"}``.

    The body also carries ``error``/``error_description`` (the reference's field names),
    so clients reading either form find the code. ``reason`` goes to the event only.
    """

    code: str = "invalid_body"
    error_name: str = "BadRequestError"
    status_code: int = 400
    default_description: str = "Invalid request body"

    def __init__(
        self,
        description: str | None = None,
        *,
        reason: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.description = description if description is not None else self.default_description
        self.reason = reason
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.description)

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return {
            "name": self.error_name,
            "code": self.code,
            "description": self.description,
            "statusCode": self.status_code,
            "error": self.code,
            "error_description": self.description,
        }

    def event_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"error": {"code": self.code, "message": self.description}}
        if self.reason:
            details["reason"] = self.reason
        return details


class InvalidBody(AccountError):
    """A missing, mistyped or malformed parameter."""


class UnknownClient(AccountError):
    code = "invalid_client"
    default_description = "Unknown client."


class BadConnection(AccountError):
    code = "bad.connection"
    default_description = "Connection does not exist"


class InvalidSignup(AccountError):
    """Auth0's answer for a taken email or username: it says no more than that."""

    code = "invalid_signup"
    default_description = "Invalid sign up"


class InvalidPassword(AccountError):
    """The password policy refused the password (Auth0's ``PasswordStrengthError``)."""

    code = "invalid_password"
    error_name = "PasswordStrengthError"
    default_description = "Password is too weak"

    def __init__(self, policy: PasswordPolicy, failed: list[dict[str, Any]], message: str) -> None:
        super().__init__(message, reason=failed[0]["code"] if failed else None)
        self.policy = policy
        self.failed = failed

    def body(self) -> dict[str, Any]:
        return {
            "name": self.error_name,
            "message": self.default_description,
            "code": self.code,
            "description": {"rules": self.policy.rules(failed=self.failed), "verified": False},
            "policy": self.policy.summary(),
            "statusCode": self.status_code,
            "error": self.code,
            "error_description": self.description,
        }


class HookRefused(AccountError):
    """A hook refused (attack protection, breached password); carries its code and status."""

    def __init__(
        self, code: str, description: str, status_code: int, headers: dict[str, str]
    ) -> None:
        super().__init__(description, status_code=status_code)
        self.code = code
        self._headers = headers

    @classmethod
    def from_oauth(cls, error: OAuthError) -> HookRefused:
        if isinstance(error, PasswordLeaked):
            # SPEC §5: refused with status 400 at sign-up and password change. The login
            # wording ("this login attempt") would be wrong here.
            description = error.description
            if description == PASSWORD_LEAKED_MESSAGE:
                description = BREACHED_PASSWORD_MESSAGE
            return cls(error.error, description, 400, {})
        return cls(error.error, error.description, error.status_code, error.headers())

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class ResetTicketInvalid(AccountError):
    """The reset link is unknown, used, expired, or older than the current password."""

    code = "invalid_ticket"
    status_code = 410
    default_description = "This link is invalid or has expired. Ask for a new password reset email."


class ResetRefused(AccountError):
    """The new password was refused; the ticket stays valid and the form is shown again."""

    code = "invalid_password"


# -- policy and hooks ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Length bounds, counted in characters (Unicode code points)."""

    min_length: int = 8
    max_length: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("need 1 <= min_length <= max_length")

    def _rule_at_least(self) -> dict[str, Any]:
        return {
            "message": "At least %d characters in length",
            "format": [self.min_length],
            "code": "lengthAtLeast",
        }

    def _rule_at_most(self) -> dict[str, Any]:
        return {
            "message": "At most %d characters in length",
            "format": [self.max_length],
            "code": "lengthAtMost",
        }

    def rules(self, *, failed: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        failing = {rule["code"] for rule in failed or []}
        return [
            {**rule, "verified": rule["code"] not in failing}
            for rule in (self._rule_at_least(), self._rule_at_most())
        ]

    def summary(self) -> str:
        return "\n".join("* " + rule["message"] % tuple(rule["format"]) for rule in self.rules())

    def check(self, password: str) -> InvalidPassword | None:
        """``None`` when the password is acceptable, else the refusal to raise."""
        if len(password) < self.min_length:
            return InvalidPassword(
                self,
                [self._rule_at_least()],
                f"Password is too weak: use at least {self.min_length} characters.",
            )
        if len(password) > self.max_length:
            return InvalidPassword(
                self,
                [self._rule_at_most()],
                f"Password is too long: use at most {self.max_length} characters.",
            )
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class AccountContext:
    """Who is asking (IP, client, user agent) and in which database connection."""

    request: RequestContext
    connection: str


class AccountHooks(Protocol):
    """Where attack protection and breached-password checks plug in. Synchronous, short.

    ``before_*`` refuse by raising an :class:`~passgate.errors.OAuthError` or an
    :class:`AccountError`; nothing has been written when they do.
    """

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        """Every well-formed sign-up from a known client to an existing connection."""

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        """A new password that passed the policy and its confirmation, before it is set."""

    def after_password_change(self, user: User, context: AccountContext) -> None:
        """The password was changed (e.g. lift brute-force blocks). Errors are logged."""


class NoAccountHooks:
    """The default: no attack protection, no breached-password check."""

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        return None

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        return None

    def after_password_change(self, user: User, context: AccountContext) -> None:
        return None


class UserStore(Protocol):
    """The part of :class:`~passgate.storage.directory.Directory` this module needs."""

    def connection_by_name(self, name: str) -> Connection | None: ...

    def create_user(
        self,
        *,
        connection: str,
        email: str,
        password_hash: str,
        username: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
        profile: UserProfile | None = None,
        now: float | None = None,
    ) -> User: ...

    def find_by_email(self, connection: str, email: str) -> User | None: ...

    def get_user(self, user_id: str) -> User | None: ...

    def set_password(
        self, user_id: str, password_hash: str, *, now: float | None = None
    ) -> bool: ...


# -- results ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class SignupResult:
    user: User

    def body(self) -> dict[str, Any]:
        """Auth0's answer: ``_id`` is the user id without its ``auth0|`` prefix, then the
        username and the profile fields that were given."""
        user, profile = self.user, self.user.profile
        out: dict[str, Any] = {
            "_id": user.id.removeprefix("auth0|"),
            "email": user.email,
            "email_verified": user.email_verified,
        }
        given = {
            "username": user.username,
            "given_name": profile.given_name,
            "family_name": profile.family_name,
            "name": user.name,
            "nickname": profile.nickname,
            "picture": profile.picture,
        }
        out.update((key, value) for key, value in given.items() if value)
        if profile.user_metadata:
            out["user_metadata"] = dict(profile.user_metadata)
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class PendingReset:
    """A reset email to deliver (see :meth:`Accounts.deliver_password_reset`)."""

    user: User
    client: Client
    context: RequestContext


@dataclasses.dataclass(frozen=True, slots=True)
class ResetForm:
    """What the reset page shows for a valid ticket."""

    user: User
    ticket: str = dataclasses.field(repr=False)


@dataclasses.dataclass
class _Audit:
    """The fields of the one event a call writes."""

    context: RequestContext
    connection: str | None = None
    user_id: str | None = None
    user_name: str | None = None

    def event(self, kind: str, now: float, details: Mapping[str, Any]) -> Event:
        return Event(
            type=kind,
            date=now,
            **self.context.event_fields(),
            connection=self.connection,
            user_id=self.user_id,
            user_name=self.user_name,
            details=dict(details),
        )


def _check_text(value: str, name: str) -> None:
    """See :func:`passgate.profiles.check_text`; refused as :class:`InvalidBody`."""
    try:
        check_text(value, name)
    except ProfileError as exc:
        raise InvalidBody(str(exc)) from None


def _profile(fields: Mapping[str, object]) -> tuple[str | None, UserProfile]:
    """The name and profile of a sign-up (:func:`passgate.profiles.read_profile`)."""
    try:
        return read_profile(fields)
    except ProfileError as exc:
        raise InvalidBody(str(exc)) from None


def _text(fields: Mapping[str, object], name: str, *, max_length: int | None) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidBody(f"Parameter {name} must be a string")
    _check_text(value, name)
    if max_length is not None and len(value) > max_length:
        raise InvalidBody(f"Parameter {name} is too long (at most {max_length} characters)")
    return value


def _required(fields: Mapping[str, object], name: str, *, max_length: int | None) -> str:
    value = _text(fields, name, max_length=max_length)
    if value is None:
        raise InvalidBody(f"Missing required parameter: {name}")
    return value


def _check_email(email: str) -> None:
    if not _EMAIL.fullmatch(email) or email.endswith(".") or "@." in email:
        raise InvalidBody("Invalid email address")


def _check_lengths(
    email: str, username: str | None, name: str | None, profile: UserProfile
) -> None:
    """Each value, and the case-folded key stored beside an email or username, fits its
    column (checked before any query: the database never refuses one for length)."""
    try:
        check_user_fields(email=email, username=username, name=name, profile=profile)
    except ValueTooLong as exc:
        raise InvalidBody(f"Parameter {exc}") from None


def _check_username(username: str | None) -> None:
    # No "@": a login identifier matches an email or a username, and must match one user.
    if username is not None and not _USERNAME.fullmatch(username):
        raise InvalidBody("Invalid username: no spaces, control characters or @")


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
        policy: PasswordPolicy | None = None,
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
        #: Replaceable after construction, like ``TokenService.guard``.
        self.hooks: AccountHooks = hooks if hooks is not None else NoAccountHooks()
        self.policy = policy if policy is not None else PasswordPolicy()
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
        context = AccountContext(request=audit.context, connection=connection.name)
        self._hook(self.hooks.before_signup, email, password, context)
        refusal = self.policy.check(password)
        if refusal is not None:
            raise refusal
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
        return None if user is None else ResetForm(user=user, ticket=ticket)

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
        refusal = self.policy.check(password)
        if refusal is not None:
            raise refusal
        context = AccountContext(request=audit.context, connection=user.connection)
        self._hook(self.hooks.before_password_change, user, password, context)
        password_hash = self._hasher.hash(password)
        del password, confirmation
        if self._tickets.redeem(RESET_KIND, ticket) is None:
            raise ResetTicketInvalid(reason="the ticket was used meanwhile")
        if not self._users.set_password(user.id, password_hash, now=self._clock()):
            raise ResetTicketInvalid(reason="the user no longer exists")
        try:
            self.hooks.after_password_change(user, context)
        except Exception:
            logger.exception("after_password_change failed for %s", user.id)
        return user
