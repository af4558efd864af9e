"""Where attack protection plugs into a password login.

The token service calls a :class:`LoginGuard` between "client authenticated" and
"password verified" (``admit``), and again with the outcome (``failed``/``succeeded``).
``admit`` refuses with :class:`~passgate.errors.TooManyAttempts` before any hashing.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from passgate.errors import OAuthError

__all__ = ["GuardTicket", "LoginAttempt", "LoginGuard", "OpenGuard", "RequestContext"]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking: the fields every event of this request shares."""

    ip: str
    client_ip: str
    client_id: str | None = None
    client_name: str | None = None
    user_agent: str | None = None
    #: Why an ``auth0-forwarded-for`` header was ignored, if one was.
    ip_note: str | None = None

    def event_fields(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "client_ip": self.client_ip,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "user_agent": self.user_agent,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class LoginAttempt:
    identifier: str
    connection: str
    context: RequestContext
    #: The account the identifier resolves to, once looked up (``None``: no account).
    #: Protection counts against the account, whichever identifier named it.
    user_id: str | None = None
    #: The account's email, what block listings show.
    user_email: str | None = None
    #: The connection's ``brute_force_protection`` (off: no counting, no block).
    brute_force: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class GuardTicket:
    attempt: LoginAttempt
    #: Backend keys this attempt holds a reservation on (empty when nothing is counted).
    keys: tuple[str, ...] = ()
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


class LoginGuard(Protocol):
    """Attack protection for password logins. Every method is synchronous and short."""

    def refuse_early(self, attempt: LoginAttempt) -> OAuthError | None:
        """A refusal known from memory alone (no I/O; runs on the event loop), or None."""

    def admit(self, attempt: LoginAttempt) -> GuardTicket:
        """Reserve an attempt or raise ``TooManyAttempts`` (before any hashing)."""

    def failed(self, ticket: GuardTicket, *, user_id: str | None) -> None: ...

    def succeeded(self, ticket: GuardTicket, *, user_id: str) -> None: ...

    def abandon(self, ticket: GuardTicket) -> None:
        """Release a reservation without an outcome (an internal error happened)."""


class OpenGuard:
    """No protection: every attempt is admitted. For tests of the bare token service."""

    def refuse_early(self, attempt: LoginAttempt) -> OAuthError | None:
        return None

    def admit(self, attempt: LoginAttempt) -> GuardTicket:
        return GuardTicket(attempt=attempt)

    def failed(self, ticket: GuardTicket, *, user_id: str | None) -> None:
        return None

    def succeeded(self, ticket: GuardTicket, *, user_id: str) -> None:
        return None

    def abandon(self, ticket: GuardTicket) -> None:
        return None
