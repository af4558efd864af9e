"""Administrators of the console: created, listed and removed (``passgate admins``), and
their logins (``/admin/login``).

A console login is a password login like any other as far as attack protection goes: the
server's :class:`~passgate.domain.login.LoginGuard` admits it (IP throttling, brute-force
blocks counted per administrator and connecting IP, in the connection
:data:`~passgate.domain.admins.ADMIN_CONNECTION`), the password is verified with argon2id
(a decoy hash for an unknown email: same work, same answer), the outcome is recorded, and
a password found in the breached-password corpus is refused when breached password
detection blocks. Each login writes an Auth0-style event: ``s`` (success), ``fp`` (wrong
password), ``fu`` (unknown email), ``f`` (refused before the password was checked),
``pwd_leak``; blocks write ``limit_wc`` / ``limit_mu`` as for end users.

Every method is blocking (database, hashing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from passgate.accounts.model import is_email_address
from passgate.domain.admins import ADMIN_CONNECTION, ROLES, Admin, Role
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.login import GuardTicket, LoginAttempt, LoginGuard, RequestContext
from passgate.domain.password_policy import StrengthPolicy
from passgate.domain.policy import BreachedPasswordPolicy
from passgate.errors import BadRequest, InvalidGrant, NotFound, OAuthError, PasswordLeaked
from passgate.storage.admins import AdminStore

__all__ = [
    "ADMIN_PASSWORD_LEAKED",
    "CONSOLE_CLIENT_NAME",
    "AdminLogins",
    "Admins",
    "PasswordCheck",
]

#: The ``client_name`` of the console's own events.
CONSOLE_CLIENT_NAME = "passgate admin console"
ADMIN_PASSWORD_LEAKED = (
    "This password was found in a data breach, so it no longer opens the console. "
    "Set a new one with: passgate admins set-password EMAIL --password-stdin"
)
MAX_EMAIL = 320
MAX_PASSWORD = 4096
#: Breached-password lookups: True when the password is in the corpus.
PasswordCheck = Callable[[str], bool]


def _email(email: str) -> str:
    if not email or len(email) > MAX_EMAIL or not is_email_address(email):
        raise BadRequest(f"not an email address: {email[:100]!r}")
    return email


def _role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise BadRequest(f"the role must be one of {', '.join(ROLES)}, not {role[:40]!r}")


class Admins:
    """Creating, listing and removing administrators."""

    def __init__(
        self,
        store: AdminStore,
        *,
        hash_password: Callable[[str], str],
        breached: PasswordCheck,
        policy: StrengthPolicy | None = None,
        clock: Clock,
    ) -> None:
        self._store = store
        self._hash = hash_password
        self._breached = breached
        # Administrators belong to no connection: passgate's former fixed rule, 8 characters.
        self._policy = policy or StrengthPolicy(level="low", min_length=8)
        self._clock = clock

    def _password(self, password: str) -> str:
        failed = self._policy.failed(password)
        if failed:
            raise BadRequest(f"the password is refused: {self._policy.describe_failure(failed)}")
        if self._breached(password):
            raise BadRequest("the password is in the breached-password corpus: choose another one")
        return self._hash(password)

    def create(self, email: str, role: str, password: str) -> Admin:
        """A new administrator; 400 for a bad email, role or password, 409 when the email
        (in any spelling) is taken."""
        checked_role, checked_email = _role(role), _email(email)
        password_hash = self._password(password)
        return self._store.create(
            email=checked_email, role=checked_role, password_hash=password_hash, now=self._clock()
        )

    def all(self) -> list[Admin]:
        return self._store.all()

    def find(self, id_or_email: str) -> Admin:
        found = self._store.find(id_or_email) if len(id_or_email) <= MAX_EMAIL else None
        if found is None:
            raise NotFound(f"no administrator has the id or email {id_or_email[:100]!r}")
        return found

    def set_password(self, id_or_email: str, password: str) -> Admin:
        """A new password (checked as at creation); the administrator's sessions end."""
        admin = self.find(id_or_email)
        self._store.set_password(admin.id, self._password(password))
        return admin

    def remove(self, id_or_email: str) -> Admin:
        """Remove the administrator and end its sessions."""
        admin = self.find(id_or_email)
        if not self._store.remove(admin.id):
            raise NotFound(f"no administrator has the id or email {id_or_email[:100]!r}")
        return admin


class AdminLogins:
    """The console's password check, behind the server's attack protection."""

    def __init__(
        self,
        store: AdminStore,
        *,
        guard: LoginGuard,
        verify: Callable[[str | None, str], bool],
        needs_rehash: Callable[[str], bool],
        hash_password: Callable[[str], str],
        breached: PasswordCheck,
        breached_policy: Callable[[], BreachedPasswordPolicy],
        events: EventSink,
        clock: Clock,
    ) -> None:
        self._store = store
        self._guard = guard
        self._verify = verify
        self._needs_rehash = needs_rehash
        self._hash = hash_password
        self._breached = breached
        self._breached_policy = breached_policy
        self._events = events
        self._clock = clock

    def _event(
        self, kind: str, context: RequestContext, email: str, admin: Admin | None, **details: Any
    ) -> None:
        self._events.emit(
            Event(
                type=kind,
                date=self._clock(),
                connection=ADMIN_CONNECTION,
                user_id=admin.id if admin is not None else None,
                user_name=email[:MAX_EMAIL],
                **context.event_fields(),
                details=details,
            )
        )

    def login(self, email: str, password: str, context: RequestContext) -> Admin:
        """The administrator ``email`` names when ``password`` is theirs; otherwise
        :class:`InvalidGrant` (unknown email and wrong password alike),
        :class:`TooManyAttempts`, :class:`PasswordLeaked` or :class:`ServiceUnavailable`."""
        if not email or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            self._event("f", context, email, None, error="invalid_request")
            raise InvalidGrant()
        found = self._store.find_for_login(email)
        admin, password_hash = found if found is not None else (None, None)
        attempt = LoginAttempt(
            identifier=email,
            connection=ADMIN_CONNECTION,
            context=context,
            user_id=admin.id if admin is not None else None,
            user_email=admin.email if admin is not None else None,
        )
        try:
            refusal = self._guard.refuse_early(attempt)
            if refusal is not None:
                raise refusal
            ticket = self._guard.admit(attempt)
        except OAuthError as exc:
            self._event("f", context, email, admin, error=exc.error, description=exc.description)
            raise
        try:
            matches = self._verify(password_hash, password)
        except BaseException:
            self._guard.abandon(ticket)
            raise
        if admin is None or password_hash is None or not matches:
            self._guard.failed(ticket, user_id=admin.id if admin is not None else None)
            self._event("fp" if admin is not None else "fu", context, email, admin)
            raise InvalidGrant()
        self._succeeded(ticket, admin, password_hash, password, context)
        return admin

    def _succeeded(
        self,
        ticket: GuardTicket,
        admin: Admin,
        password_hash: str,
        password: str,
        context: RequestContext,
    ) -> None:
        self._guard.succeeded(ticket, user_id=admin.id)
        policy = self._breached_policy()
        if policy.enabled and self._breached(password):
            blocked = "block" in policy.shields
            self._event("pwd_leak", context, admin.email, admin, blocked=blocked)
            if blocked:
                raise PasswordLeaked(ADMIN_PASSWORD_LEAKED)
        rehashed = self._hash(password) if self._needs_rehash(password_hash) else None
        self._store.logged_in(admin.id, self._clock(), rehashed)
        self._event("s", context, admin.email, admin, role=admin.role)
