"""Brute-force blocks of accounts: listed and released by identifier or by user id.

``GET/DELETE /api/v2/user-blocks?identifier=…`` and ``/api/v2/user-blocks/{id}`` go through
:class:`UserBlocks`. An identifier names an account by any of its identifiers in any
spelling, or by its user id (``protection.subjects.account_subjects``), as ``passgate
blocks list --identifier`` resolves it; the blocks shown are the current mode's, without
allowlisted IPs (``domain.brute_force.visible_blocks``).

A release goes through :class:`~passgate.protection.unblock.BlockReleases`, the one way
every caller releases blocks and logs ``ublkdu``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from passgate.domain.clock import Clock
from passgate.domain.models import User
from passgate.domain.policy import BruteForcePolicy
from passgate.errors import NotFound
from passgate.protection.subjects import account_subjects, user_subjects
from passgate.protection.unblock import (
    BlockReleases,
    Released,
    ReleasedBy,
    blocks_enforced,
    current_blocks,
)
from passgate.storage.counters import BlockAdmin, BlockRecord
from passgate.storage.directory import Directory

__all__ = ["UserBlocks"]

USER_NOT_FOUND = "The user does not exist."


class UserBlocks:
    """Lists and releases brute-force blocks (blocking: directory and counters I/O)."""

    def __init__(
        self,
        *,
        directory: Directory,
        counters: BlockAdmin,
        policy: Callable[[], BruteForcePolicy],
        releases: BlockReleases,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._counters = counters
        self._policy = policy
        self._releases = releases
        self._clock = clock

    def _user(self, user_id: str) -> User:
        user = self._directory.get_user(user_id)
        if user is None:
            raise NotFound(USER_NOT_FOUND, code="inexistent_user")
        return user

    def _listed(self, subjects: Collection[str] | None, only_enforced: bool) -> list[BlockRecord]:
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

    def every_block(self) -> list[BlockRecord]:
        """Every block in force now (none when protection does not block)."""
        return self._listed(None, only_enforced=True)

    def release_block(
        self, subject: str, ip: str | None, connection: str, by: ReleasedBy
    ) -> BlockRecord | None:
        """Release exactly one block (the counter key of ``subject`` at ``ip`` in
        ``connection``) and log ``ublkdu``; None when it is not in force."""
        found = [
            record
            for record in self._listed({subject}, only_enforced=False)
            if record.ip == ip and record.connection == connection
        ]
        if not found:
            return None
        record = found[0]
        payload = {
            "subject": record.subject,
            "ip": record.ip,
            "connection": record.connection,
            "identifier": record.identifier,
            "user_id": record.user_id,
        }
        self._releases.release_link(payload, by)
        return record

    def release_identifier(self, identifier: str, by: ReleasedBy) -> Released:
        return self._releases.release(identifier, by)

    def release_user(self, user_id: str, by: ReleasedBy) -> Released:
        return self._releases.release_user(self._user(user_id), by)
