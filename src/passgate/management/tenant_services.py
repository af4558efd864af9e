"""Building the Management API's users, stats and signing-key services for a server."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from typing import Protocol

import sqlalchemy as sa

from passgate.accounts.service import Accounts
from passgate.breached.gate import BreachedPasswords
from passgate.domain.clock import Clock
from passgate.keys.ring import KeyRing
from passgate.management.signing_keys import SigningKeysService
from passgate.management.stats import Stats
from passgate.management.users import AccountReleases, BreachedPasswordRules, UsersService
from passgate.storage.directory import Directory
from passgate.storage.event_stats import EventStats
from passgate.storage.user_search import UserSearches
from passgate.support.passwords import PasswordHasher

__all__ = ["ServerParts", "TenantServices", "tenant_services"]


@dataclasses.dataclass(frozen=True, slots=True)
class TenantServices:
    users: UsersService
    stats: Stats
    signing_keys: SigningKeysService


class ServerParts(Protocol):
    """What the services are made of: the composition root's parts, by name."""

    @property
    def engine(self) -> sa.Engine: ...
    @property
    def directory(self) -> Directory: ...
    @property
    def keys(self) -> KeyRing: ...
    @property
    def issuer(self) -> str: ...
    @property
    def hasher(self) -> PasswordHasher: ...
    @property
    def hash_pool(self) -> Executor: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def breached(self) -> BreachedPasswords: ...
    @property
    def block_releases(self) -> AccountReleases: ...
    @property
    def clock(self) -> Clock: ...


def tenant_services(parts: ServerParts) -> TenantServices:
    """The services, with sign-up's password policy and breached-password stages, and
    passwords hashed in the server's hashing pool (the one logins and sign-ups hash in,
    sized to the cores; the calling thread of the I/O pool waits for it)."""
    hasher, pool = parts.hasher, parts.hash_pool

    def hash_password(password: str) -> str:
        return pool.submit(hasher.hash, password).result()

    users = UsersService(
        directory=parts.directory,
        searches=UserSearches(parts.engine),
        rules=BreachedPasswordRules(parts.accounts.policy, parts.breached),
        hash_password=hash_password,
        releases=parts.block_releases,
        clock=parts.clock,
    )
    return TenantServices(
        users=users,
        stats=Stats(EventStats(parts.engine), clock=parts.clock),
        signing_keys=SigningKeysService(parts.keys, issuer=parts.issuer),
    )
