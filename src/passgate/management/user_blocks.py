"""Brute-force blocks of accounts: listed and released by identifier or by user id.

``GET/DELETE /api/v2/user-blocks?identifier=…`` and ``/api/v2/user-blocks/{id}`` go through
:class:`UserBlocks`. An identifier names an account by any of its identifiers in any
spelling, or by its user id (``protection.subjects.account_subjects``), as ``passgate
blocks list --identifier`` resolves it; the blocks shown are the current mode's, without
allowlisted IPs (``domain.brute_force.visible_blocks``).

Every release goes through :meth:`UserBlocks.release`: reset the subjects' counters, log
one ``ublkdu`` per released block, and let this process stop refusing from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, visible_blocks
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.models import User
from passgate.domain.policy import BruteForcePolicy
from passgate.management.errors import NotFound
from passgate.protection.subjects import account_subjects, user_subjects
from passgate.storage.counters import BlockAdmin, BlockRecord
from passgate.storage.directory import Directory

__all__ = [
    "Actor",
    "Release",
    "UserBlocks",
    "blocks_enforced",
    "current_blocks",
]

USER_NOT_FOUND = "The user does not exist."


def current_blocks(
    counters: BlockAdmin,
    policy: BruteForcePolicy,
    subjects: Collection[str] | None,
    now: float,
) -> list[BlockRecord]:
    """The blocks of these subjects (or all) at ``now``, as the Management API shows them."""
    records = counters.list_blocks(
        subjects,
        max_attempts=policy.max_attempts,
        now=now,
        per_ip=policy.mode == PER_IDENTIFIER_AND_IP,
    )
    return visible_blocks(records, policy)


def blocks_enforced(policy: BruteForcePolicy) -> bool:
    """Whether blocks are refused now (not disabled, not monitoring without ``block``)."""
    return policy.enabled and "block" in policy.shields


@dataclass(frozen=True, slots=True)
class Actor:
    """Who releases blocks, as the ``ublkdu`` events name them."""

    released_by: str
    client_id: str | None = None
    client_name: str | None = None
    #: The IP the request came from (``client_ip`` of the event).
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Release:
    #: The blocks that were in force and are released.
    released: list[BlockRecord]
    #: Counters reset (blocks, and failures counted below the threshold).
    reset_counters: int


class UserBlocks:
    """Lists and releases brute-force blocks (blocking: directory and counters I/O)."""

    def __init__(
        self,
        *,
        directory: Directory,
        counters: BlockAdmin,
        policy: Callable[[], BruteForcePolicy],
        events: EventSink,
        clock: Clock,
        on_release: Callable[[], None],
    ) -> None:
        self._directory = directory
        self._counters = counters
        self._policy = policy
        self._events = events
        self._clock = clock
        self._on_release = on_release

    def _user(self, user_id: str) -> User:
        user = self._directory.get_user(user_id)
        if user is None:
            raise NotFound(USER_NOT_FOUND, error_code="inexistent_user")
        return user

    def _listed(self, subjects: Collection[str], only_enforced: bool) -> list[BlockRecord]:
        policy = self._policy()
        if only_enforced and not blocks_enforced(policy):
            return []
        return current_blocks(self._counters, policy, subjects, self._clock())

    def of_identifier(self, identifier: str, *, only_enforced: bool = False) -> list[BlockRecord]:
        """The blocks of the account ``identifier`` names (and of the identifier itself);
        none when ``only_enforced`` and protection does not block now."""
        subjects, _ = account_subjects(self._directory, identifier)
        return self._listed(subjects, only_enforced)

    def of_user(self, user_id: str, *, only_enforced: bool = False) -> list[BlockRecord]:
        """The blocks of the account ``user_id``; :class:`NotFound` when there is none."""
        return self._listed(user_subjects(self._user(user_id)), only_enforced)

    def release_identifier(self, identifier: str, actor: Actor) -> Release:
        subjects, accounts = account_subjects(self._directory, identifier)
        return self.release(subjects, accounts, actor)

    def release_user(self, user_id: str, actor: Actor) -> Release:
        user = self._user(user_id)
        return self.release(user_subjects(user), {user.connection: user}, actor)

    def release(
        self, subjects: Collection[str], accounts: dict[str, User], actor: Actor
    ) -> Release:
        """Reset the subjects' counters and log ``ublkdu`` for each block that was in
        force (the one release path of the Management API)."""
        now = self._clock()
        released = current_blocks(self._counters, self._policy(), subjects, now)
        reset = self._counters.remove_blocks(subjects)
        if reset:
            self._on_release()
        for record in released:
            account = accounts.get(record.connection)
            self._events.emit(
                Event(
                    type="ublkdu",
                    date=now,
                    ip=record.ip,
                    client_ip=actor.ip,
                    client_id=actor.client_id,
                    client_name=actor.client_name,
                    connection=record.connection,
                    user_id=record.user_id or (account.id if account else None),
                    user_name=record.identifier,
                    user_agent=actor.user_agent,
                    details={"released_by": actor.released_by},
                )
            )
        return Release(released=released, reset_counters=reset)
