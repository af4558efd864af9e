"""Building the Management API's users, stats, signing-key and jobs services for a server."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from typing import Protocol

import sqlalchemy as sa

from passgate.accounts.password_rules import ConnectionPasswords
from passgate.accounts.service import Accounts
from passgate.breached.gate import BreachedPasswords
from passgate.domain.clock import Clock
from passgate.keys.ring import KeyRing
from passgate.mail.mailer import Mailer
from passgate.management.jobs import JobsService
from passgate.management.signing_keys import SigningKeysService
from passgate.management.stats import Stats
from passgate.management.users import AccountReleases, BreachedPasswordRules, UsersService
from passgate.settings import Settings
from passgate.storage.connections import PasswordHistory
from passgate.storage.directory import Directory
from passgate.storage.event_stats import EventStats
from passgate.storage.user_search import UserSearches
from passgate.support.common_passwords import common_passwords
from passgate.support.passwords import PasswordHasher

__all__ = ["ServerParts", "TenantServices", "tenant_services"]


@dataclasses.dataclass(frozen=True, slots=True)
class TenantServices:
    users: UsersService
    stats: Stats
    signing_keys: SigningKeysService
    #: User imports and exports (``/jobs``).
    jobs: JobsService


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
    def io_pool(self) -> Executor: ...
    @property
    def accounts(self) -> Accounts: ...
    @property
    def breached(self) -> BreachedPasswords: ...
    @property
    def block_releases(self) -> AccountReleases: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def mailer(self) -> Mailer: ...

    def admin_emails(self) -> list[str]: ...


def tenant_services(parts: ServerParts) -> TenantServices:
    """The services, with the connections' password rules and breached-password stages,
    and passwords hashed (and a history verified) in the server's hashing pool (the one
    logins and sign-ups hash in, sized to the cores; the calling thread of the I/O pool
    waits for it)."""
    hasher, pool = parts.hasher, parts.hash_pool

    def hash_password(password: str) -> str:
        return pool.submit(hasher.hash, password).result()

    def verify(password_hash: str, password: str) -> bool:
        return pool.submit(hasher.verify, password_hash, password).result()

    users = UsersService(
        directory=parts.directory,
        searches=UserSearches(parts.engine),
        rules=BreachedPasswordRules(parts.breached),
        hash_password=hash_password,
        releases=parts.block_releases,
        clock=parts.clock,
        passwords=ConnectionPasswords(
            history=PasswordHistory(parts.engine), verify=verify, common=common_passwords
        ),
    )
    return TenantServices(
        users=users,
        stats=Stats(EventStats(parts.engine), clock=parts.clock),
        signing_keys=SigningKeysService(parts.keys, issuer=parts.issuer),
        jobs=JobsService(
            engine=parts.engine,
            directory=parts.directory,
            spool=parts.settings.data_dir / "jobs",
            issuer=parts.issuer,
            clock=parts.clock,
            max_upload_bytes=parts.settings.users_import_max_bytes,
            pool=parts.io_pool,
            mailer=parts.mailer,
            admin_emails=parts.admin_emails,
        ),
    )
