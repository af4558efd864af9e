"""Single-use, expiring links (password reset, unblock), stored only as keyed digests.

A ticket is a random token handed to a user (in an emailed link) and a small JSON payload
kept in the ``tickets`` table under the token's HMAC digest, so a database dump reveals no
usable link. :meth:`Tickets.redeem` uses a ticket up with one atomic ``UPDATE ... WHERE
used_at IS NULL AND expires_at > now``: among concurrent redemptions exactly one wins, on
SQLite and PostgreSQL alike. :meth:`Tickets.peek` checks a ticket without using it (to show
a form).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from passgate.domain.clock import Clock, system_clock
from passgate.errors import StorageError
from passgate.storage.schema import tickets
from passgate.support.crypto import keyed_digest, new_secret

__all__ = ["MAX_TOKEN_LENGTH", "Tickets"]

#: Longer strings are not tickets: refused without touching the database.
MAX_TOKEN_LENGTH = 128
_MAX_KIND = 32


def _payload(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise StorageError("a ticket payload is not a JSON object")
    return value


class Tickets:
    def __init__(self, engine: sa.Engine, digest_key: bytes, clock: Clock = system_clock) -> None:
        self._engine = engine
        self._key = digest_key
        self._clock = clock

    def _digest(self, token: str) -> str:
        return keyed_digest(self._key, token)

    @staticmethod
    def _plausible(token: str) -> bool:
        return 0 < len(token) <= MAX_TOKEN_LENGTH

    def issue(self, kind: str, payload: Mapping[str, Any], ttl_s: float) -> str:
        """A new ticket of ``kind`` valid for ``ttl_s`` seconds; returns its token."""
        if not kind or len(kind) > _MAX_KIND:
            raise ValueError(f"kind must be 1 to {_MAX_KIND} characters")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        token = new_secret(32)
        now = self._clock()
        try:
            with self._engine.begin() as db:
                db.execute(
                    tickets.insert().values(
                        token_digest=self._digest(token),
                        kind=kind,
                        payload=json.dumps(dict(payload)),
                        created_at=now,
                        expires_at=now + ttl_s,
                        used_at=None,
                    )
                )
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot store a ticket: {type(exc).__name__}") from exc
        return token

    def _valid(self, kind: str, digest: str, now: float) -> list[Any]:
        return [
            tickets.c.token_digest == digest,
            tickets.c.kind == kind,
            tickets.c.used_at.is_(None),
            tickets.c.expires_at > now,
        ]

    def peek(self, kind: str, token: str) -> dict[str, Any] | None:
        """The payload of a valid (unused, unexpired) ticket, without using it."""
        if not self._plausible(token):
            return None
        statement = sa.select(tickets.c.payload).where(
            *self._valid(kind, self._digest(token), self._clock())
        )
        try:
            with self._engine.connect() as db:
                raw = db.execute(statement).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read a ticket: {type(exc).__name__}") from exc
        return None if raw is None else _payload(raw)

    def redeem(self, kind: str, token: str) -> dict[str, Any] | None:
        """Use the ticket up and return its payload; ``None`` if used, expired or unknown."""
        if not self._plausible(token):
            return None
        now = self._clock()
        digest = self._digest(token)
        claim = tickets.update().where(*self._valid(kind, digest, now)).values(used_at=now)
        try:
            with self._engine.begin() as db:
                if db.dialect.update_returning:
                    raw = db.execute(claim.returning(tickets.c.payload)).scalar_one_or_none()
                else:  # pragma: no cover - SQLite before 3.35
                    if not db.execute(claim).rowcount:
                        return None
                    raw = db.execute(
                        sa.select(tickets.c.payload).where(tickets.c.token_digest == digest)
                    ).scalar_one()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot use a ticket: {type(exc).__name__}") from exc
        return None if raw is None else _payload(raw)

    def purge(self, *, older_than_s: float = 7 * 24 * 3600.0) -> int:
        """Delete tickets that expired more than ``older_than_s`` seconds ago."""
        cutoff = self._clock() - older_than_s
        try:
            with self._engine.begin() as db:
                deleted = db.execute(tickets.delete().where(tickets.c.expires_at < cutoff))
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot purge tickets: {type(exc).__name__}") from exc
        return int(deleted.rowcount)
