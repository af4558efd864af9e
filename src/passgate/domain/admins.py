"""Administrators of the console and their sessions: values and the expiry rule.

Administrators are not end users: they live in their own table, log in at ``/admin/login``
and never reach the token endpoint. An ``admin`` changes things through the console; a
``viewer`` reads everything and changes nothing.

A session ends ``idle_s`` after its last request or ``absolute_s`` after it began,
whichever comes first (:func:`session_expired`: a pure rule, the clock passed in).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = [
    "ADMIN",
    "ADMIN_CONNECTION",
    "ADMIN_ID_PREFIX",
    "ROLES",
    "VIEWER",
    "Admin",
    "AdminSession",
    "Role",
    "session_expired",
]

Role = Literal["admin", "viewer"]
ADMIN: Role = "admin"
VIEWER: Role = "viewer"
ROLES: tuple[Role, ...] = (ADMIN, VIEWER)
#: Administrators' ids start with this (users' with ``auth0|``).
ADMIN_ID_PREFIX = "admin|"
#: The connection name administrators' logins are counted and logged under: no database
#: connection can have it (names of connections have no spaces).
ADMIN_CONNECTION = "passgate admin console"


@dataclasses.dataclass(frozen=True, slots=True)
class Admin:
    id: str
    #: As given; ``email_key`` (its canonical form) is what lookups use.
    email: str
    role: Role
    created_at: float
    last_login_at: float | None = None

    @property
    def can_change(self) -> bool:
        return self.role == ADMIN


@dataclasses.dataclass(frozen=True, slots=True)
class AdminSession:
    """A console session, as stored (the token itself is stored only as a digest)."""

    digest: str
    admin: Admin
    created_at: float
    last_seen: float


def session_expired(session: AdminSession, now: float, *, idle_s: float, absolute_s: float) -> bool:
    """Whether ``session`` has ended at ``now``: idle too long, or too old."""
    return now - session.last_seen >= idle_s or now - session.created_at >= absolute_s
