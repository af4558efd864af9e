"""Releasing brute-force blocks, and the ``ublkdu`` event each release writes.

Whoever releases a block goes through :class:`BlockReleases`: the unblock link a block
emails, the command line (``blocks remove``, ``users set-password``), a password change,
and the Management API's ``DELETE /api/v2/user-blocks``. A release resets the failures of
the counter keys it names and logs ``ublkdu``; :class:`ReleasedBy` says who released it
(``details.released_by``) and, for a request, from where (the event's IP, client and
user agent).

An identifier names its account: releasing ``alice`` releases the blocks counted against
the account that ``alice`` (its username, its email, any spelling of them, or its user
id) resolves to, in every connection, and those counted under the identifier itself
(before the account existed). Releasing nothing is not an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP, visible_blocks
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.identifiers import identifier_subjects
from passgate.domain.login import RequestContext
from passgate.domain.models import User
from passgate.domain.policy import BruteForcePolicy
from passgate.protection.subjects import account_subjects, user_subjects
from passgate.storage.counters import BlockAdmin, BlockRecord
from passgate.storage.directory import Directory

__all__ = [
    "ADMINISTRATOR_CLI",
    "PASSWORD_CHANGE",
    "UNBLOCK_LINK",
    "BlockReleases",
    "Released",
    "ReleasedBy",
    "blocks_enforced",
    "current_blocks",
]

#: What ``details.released_by`` says for each way a block is released.
UNBLOCK_LINK = "unblock link"
ADMINISTRATOR_CLI = "administrator (cli)"
PASSWORD_CHANGE = "password change"


class BruteForcePolicySource(Protocol):
    def get_brute_force(self) -> BruteForcePolicy: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ReleasedBy:
    """Who released a block: ``name`` becomes the event's ``details.released_by``; the
    ``request`` it came with, if any, gives the event's IP (unless the block had one),
    client and user agent. None from the command line."""

    name: str
    request: RequestContext | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Released:
    """What a release by identifier did: the blocks in force that it ended, and how many
    counter keys had failures (below the threshold too) that it reset."""

    blocks: list[BlockRecord]
    reset: int


def current_blocks(
    counters: BlockAdmin,
    policy: BruteForcePolicy,
    subjects: Collection[str] | None,
    now: float,
) -> list[BlockRecord]:
    """The blocks in force at ``now`` under ``policy``, of these subjects or all."""
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


class BlockReleases:
    """Releases brute-force blocks and logs ``ublkdu``: the one way, whoever asks.

    ``on_release`` runs after every release (the server makes its guard forget the
    refusals it remembers, so the release shows at once in this process).
    """

    def __init__(
        self,
        *,
        counters: BlockAdmin,
        directory: Directory,
        policies: BruteForcePolicySource,
        events: EventSink,
        clock: Clock,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self._counters = counters
        self._directory = directory
        self._policies = policies
        self._events = events
        self._clock = clock
        self._on_release = on_release

    def release(
        self,
        identifier: str,
        by: ReleasedBy,
        *,
        ip: str | None = None,
        connection: str | None = None,
    ) -> Released:
        """Release the blocks of ``identifier`` (an email, a username, any spelling of
        them, or a user id), only those of ``ip`` / ``connection`` when given. One event
        per block in force that ended; failures below the threshold are reset too."""
        subjects, accounts = account_subjects(self._directory, identifier, connection=connection)
        return self._release(subjects, accounts, by, ip=ip, connection=connection)

    def release_user(self, user: User, by: ReleasedBy) -> Released:
        """Release the blocks of one account (the Management API's ``user-blocks/{id}``):
        one event per block in force that ended."""
        return self._release(user_subjects(user), {user.connection: user}, by)

    def _release(
        self,
        subjects: Collection[str],
        accounts: Mapping[str, User],
        by: ReleasedBy,
        *,
        ip: str | None = None,
        connection: str | None = None,
    ) -> Released:
        now = self._clock()
        policy = self._policies.get_brute_force()
        ended = [
            record
            for record in current_blocks(self._counters, policy, subjects, now)
            if ip in (None, record.ip) and connection in (None, record.connection)
        ]
        reset = self._remove(subjects, ip, connection)
        for record in ended:
            account = accounts.get(record.connection)
            self._log(
                by,
                now,
                ip=record.ip,
                connection=record.connection,
                user_id=record.user_id or (account.id if account else None),
                user_name=record.identifier,
            )
        return Released(ended, reset)

    def release_account(self, user: User, by: ReleasedBy) -> int:
        """Release every block of the user's account (a new password ends them); one
        event when any of its keys had failures. Return how many keys had failures."""
        now = self._clock()
        reset = self._remove(user_subjects(user), None, None)
        if reset:
            self._log(
                by,
                now,
                connection=user.connection,
                user_id=user.id,
                user_name=user.email,
                keys=reset,
            )
        return reset

    def release_link(self, payload: Mapping[str, Any], by: ReleasedBy) -> None:
        """Release the block an unblock link names (the payload of its ticket: the
        identifier and its counter subject, the IP, the connection, the user id), and
        log it."""
        now = self._clock()
        connection = str(payload.get("connection") or "")
        subjects = (
            {str(payload["subject"])}
            if payload.get("subject")
            else identifier_subjects(  # a link emailed before counters had subjects
                connection, [str(payload.get("identifier") or "")], payload.get("user_id")
            )
        )
        self._remove(subjects, payload.get("ip"), connection or None)
        self._log(
            by,
            now,
            ip=payload.get("ip"),
            connection=payload.get("connection"),
            user_id=payload.get("user_id"),
            user_name=payload.get("identifier"),
        )

    def _remove(self, subjects: Collection[str], ip: str | None, connection: str | None) -> int:
        reset = self._counters.remove_blocks(subjects, ip, connection=connection)
        if self._on_release is not None:
            self._on_release()
        return reset

    def _log(
        self,
        by: ReleasedBy,
        now: float,
        *,
        connection: str | None,
        user_id: str | None,
        user_name: str | None,
        ip: str | None = None,
        **details: Any,
    ) -> None:
        fields = by.request.event_fields() if by.request is not None else {}
        fields["ip"] = ip or fields.get("ip")
        self._events.emit(
            Event(
                type="ublkdu",
                date=now,
                connection=connection,
                user_id=user_id,
                user_name=user_name,
                **fields,
                details={"released_by": by.name, **details},
            )
        )
