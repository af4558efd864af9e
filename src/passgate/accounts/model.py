"""The accounts service's values: its errors, the password policy, the hooks attack
protection plugs in with, what sign-up and reset answer, and the checks of their fields."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from passgate.domain.events import Event
from passgate.domain.identifiers import is_valid_username
from passgate.domain.login import RequestContext
from passgate.domain.models import Client, Connection, User, UserProfile
from passgate.domain.password_policy import StrengthPolicy
from passgate.domain.profiles import ProfileError, check_text, read_profile
from passgate.errors import (
    PASSWORD_LEAKED_MESSAGE,
    InvalidRequest,
    OAuthError,
    PassgateError,
    PasswordLeaked,
)
from passgate.storage.directory import check_user_fields
from passgate.storage.limits import ValueTooLong, max_length
from passgate.storage.schema import users

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


# -- errors ----------------------------------------------------------------------------
class AccountError(PassgateError):
    """A refusal of a sign-up, a password change or a reset: Auth0's ``code`` and a
    description, both told to the client (:mod:`passgate.web.errors` answers it in the
    ``/dbconnections`` shape). ``reason`` goes to the event only."""

    code: str = "invalid_body"
    default_description: str = "Invalid request body"

    def __init__(self, description: str | None = None, *, reason: str | None = None) -> None:
        self.description = description if description is not None else self.default_description
        self.reason = reason
        super().__init__(self.description)

    def event_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"error": {"code": self.code, "message": self.description}}
        if self.reason:
            details["reason"] = self.reason
        return details


class InvalidBody(AccountError):
    """A missing, mistyped or malformed parameter."""


class UnreadableBody(InvalidBody):
    """The body itself was refused (too large, not JSON or a form, another charset):
    ``refusal`` is the body reader's :class:`~passgate.errors.InvalidRequest`."""

    def __init__(self, refusal: InvalidRequest) -> None:
        super().__init__(refusal.description)
        self.refusal = refusal


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
    """The connection's password rules refused the password: Auth0's ``invalid_password``
    with the rule's ``name`` (``PasswordStrengthError``, ``PasswordDictionaryError``,
    ``PasswordHistoryError``, ``PasswordNoUserInfoError``), the strength ``policy`` (its
    text is told to the client) and, for a weak password, its ``rules`` verified against
    it (booleans only: the password is not kept)."""

    code = "invalid_password"
    default_description = "Password is too weak"
    #: What Auth0 says for each rule (``message``, and ``description`` but for strength).
    MESSAGES: ClassVar[dict[str, str]] = {
        "PasswordStrengthError": "Password is too weak",
        "PasswordDictionaryError": "Password is too common",
        "PasswordHistoryError": "Password has previously been used",
        "PasswordNoUserInfoError": "Password contains user information",
    }

    def __init__(
        self,
        policy: StrengthPolicy,
        rules: list[dict[str, Any]],
        message: str,
        *,
        name: str = "PasswordStrengthError",
    ) -> None:
        failed = [rule["code"] for rule in rules if not rule.get("verified", True)]
        super().__init__(message, reason=failed[0] if failed else name)
        self.policy = policy
        self.rules = rules
        self.name = name

    @property
    def message(self) -> str:
        return self.MESSAGES[self.name]

    @classmethod
    def of_kind(cls, name: str, policy: StrengthPolicy) -> InvalidPassword:
        """A refusal by a rule other than strength (its message is its description)."""
        return cls(policy, [], cls.MESSAGES[name], name=name)


class SignupDisabled(AccountError):
    """The connection has ``disable_signup``: Auth0's answer (administrators can still
    create users)."""

    code = "operation_not_supported"
    default_description = "public signup is disabled"


class ClientNotEnabled(AccountError):
    """The client may not use the connection (not in its ``enabled_clients``)."""

    code = "unauthorized_client"
    default_description = "The connection is not enabled for this client."


class HookRefused(AccountError):
    """A hook refused (attack protection, breached password) with ``refusal``, an
    :class:`~passgate.errors.OAuthError` whose code and description this one carries."""

    def __init__(self, refusal: OAuthError, description: str) -> None:
        super().__init__(description)
        self.code = refusal.error
        self.refusal = refusal

    @classmethod
    def from_oauth(cls, error: OAuthError) -> HookRefused:
        description = error.description
        if isinstance(error, PasswordLeaked) and description == PASSWORD_LEAKED_MESSAGE:
            # The login wording ("this login attempt") would be wrong here.
            description = BREACHED_PASSWORD_MESSAGE
        return cls(error, description)


class ResetTicketInvalid(AccountError):
    """The reset link is unknown, used, expired, or older than the current password."""

    code = "invalid_ticket"
    default_description = "This link is invalid or has expired. Ask for a new password reset email."


class ResetRefused(AccountError):
    """The new password was refused; the ticket stays valid and the form is shown again."""

    code = "invalid_password"


# -- policy and hooks ------------------------------------------------------------------
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
    #: The user's connection's strength rules (the form says them).
    policy: StrengthPolicy = dataclasses.field(default_factory=StrengthPolicy)


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
    """See :func:`passgate.domain.profiles.check_text`; refused as :class:`InvalidBody`."""
    try:
        check_text(value, name)
    except ProfileError as exc:
        raise InvalidBody(str(exc)) from None


def _profile(fields: Mapping[str, object]) -> tuple[str | None, UserProfile]:
    """The name and profile of a sign-up (:func:`passgate.domain.profiles.read_profile`)."""
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


def is_email_address(email: str) -> bool:
    """One address (no display name, nothing that could split a header): what sign-up
    and the Management API take."""
    return bool(_EMAIL.fullmatch(email)) and not email.endswith(".") and "@." not in email


def _check_email(email: str) -> None:
    if not is_email_address(email):
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


def _check_username_rules(
    username: str | None, required: bool, bounds: tuple[int, int] | None
) -> None:
    """The connection's ``requires_username`` and ``validation.username`` bounds."""
    if username is None:
        if required:
            raise InvalidBody("Missing required parameter: username")
        return
    if bounds is not None and not bounds[0] <= len(username) <= bounds[1]:
        raise InvalidBody(
            f"Invalid username: it must be {bounds[0]} to {bounds[1]} characters long"
        )


def _check_username(username: str | None) -> None:
    # No "@": a login identifier matches an email or a username, and must match one user.
    if username is not None and not is_valid_username(username):
        raise InvalidBody("Invalid username: no spaces, control characters or @")
