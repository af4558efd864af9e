"""Refresh tokens (stored as digests, rotated, families) and signing keys."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from passgate.domain.models import RefreshToken, SigningKey, User
from passgate.storage.directory import read_user
from passgate.storage.schema import refresh_tokens, signing_keys, users
from passgate.support.crypto import keyed_digest, new_id, new_secret

__all__ = ["RefreshTokens", "Revocation", "RotateOutcome", "Rotation", "SigningKeys"]


class RotateOutcome(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    REUSED = "reused"  # an already rotated token: the whole family is revoked
    REVOKED = "revoked"
    EXPIRED = "expired"
    WRONG_CLIENT = "wrong_client"
    USER_BLOCKED = "user_blocked"  # left unused: it works again once the user is unblocked
    USER_UNKNOWN = "user_unknown"  # its user was deleted


@dataclasses.dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation found: the token's record (None when unknown) and, when it
    rotated, its user as the rotation saw them (to mint the new tokens for)."""

    outcome: RotateOutcome
    token: RefreshToken | None = None
    user: User | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Revocation:
    """A revoked token's record, and how many live tokens of its family it revoked (0
    when the family was already revoked)."""

    token: RefreshToken
    revoked: int


def _refresh(row: Any) -> RefreshToken:
    return RefreshToken(
        token_digest=row.token_digest,
        family_id=row.family_id,
        client_id=row.client_id,
        user_id=row.user_id,
        audience=row.audience,
        scope=row.scope,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


def _claim(digest: str, client_id: str, now: float) -> sa.Update:
    """Mark the token used if it may be: this client's, live, unused, and its user
    exists and is not blocked (share-locked on PostgreSQL; SQLite ignores the lock)."""
    user_may_refresh = (
        sa.select(users.c.id)
        .where(users.c.id == refresh_tokens.c.user_id, users.c.blocked.is_(False))
        .with_for_update(read=True)
    )
    return (
        refresh_tokens.update()
        .where(
            refresh_tokens.c.token_digest == digest,
            refresh_tokens.c.client_id == client_id,
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
            refresh_tokens.c.used_at.is_(None),
            sa.exists(user_may_refresh),
        )
        .values(used_at=now)
    )


def _refusal(db: sa.Connection, current: RefreshToken, client_id: str, now: float) -> RotateOutcome:
    """Why the claim used nothing, read in its transaction. A reuse revokes the family.
    When nothing else explains it, the user was blocked at the claim (a block lifted
    since then changes nothing: the token is still unused)."""
    if current.client_id != client_id:
        return RotateOutcome.WRONG_CLIENT
    if current.revoked_at is not None:
        return RotateOutcome.REVOKED
    if current.expires_at <= now:
        return RotateOutcome.EXPIRED
    if current.used_at is not None:
        db.execute(
            refresh_tokens.update()
            .where(
                refresh_tokens.c.family_id == current.family_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return RotateOutcome.REUSED
    exists = db.execute(sa.select(users.c.id).where(users.c.id == current.user_id)).first()
    return RotateOutcome.USER_BLOCKED if exists is not None else RotateOutcome.USER_UNKNOWN


class RefreshTokens:
    def __init__(self, engine: sa.Engine, digest_key: bytes) -> None:
        self._engine = engine
        self._key = digest_key

    def _digest(self, token: str) -> str:
        return keyed_digest(self._key, token)

    def issue(
        self,
        *,
        client_id: str,
        user_id: str,
        audience: str | None,
        scope: str,
        now: float,
        lifetime: int,
        family_id: str | None = None,
        connection: sa.Connection | None = None,
    ) -> str:
        token = new_secret(32)
        values = {
            "token_digest": self._digest(token),
            "family_id": family_id or new_id("rtf_", 12),
            "client_id": client_id,
            "user_id": user_id,
            "audience": audience,
            "scope": scope,
            "created_at": now,
            "expires_at": now + lifetime,
        }
        if connection is not None:
            connection.execute(refresh_tokens.insert().values(**values))
        else:
            with self._engine.begin() as db:
                db.execute(refresh_tokens.insert().values(**values))
        return token

    def rotate(
        self, token: str, *, client_id: str, now: float, lifetime: int
    ) -> tuple[Rotation, str | None]:
        """Use ``token`` once: mark it used and issue its successor in the same family.

        One conditional UPDATE decides: it uses the token only if it is this client's,
        live and unused, and its user exists and is not blocked. On PostgreSQL it takes a
        share lock on the user's row, so a block under way is waited for and a later one
        waits for this rotation; on SQLite the UPDATE takes the write lock first. A refusal
        uses nothing (a blocked user's token works again once unblocked); only then is its
        reason read. A token used a second time revokes its whole family (RFC 9700
        §4.14.2), whatever its user's state.
        """
        digest = self._digest(token)
        with self._engine.begin() as db:
            claimed = db.execute(_claim(digest, client_id, now)).rowcount
            row = db.execute(
                sa.select(refresh_tokens).where(refresh_tokens.c.token_digest == digest)
            ).first()
            if row is None:
                return Rotation(RotateOutcome.UNKNOWN), None
            current = _refresh(row)
            if not claimed:
                return Rotation(_refusal(db, current, client_id, now), current), None
            user = read_user(db, current.user_id)
            assert user is not None  # the claim found them, and holds them until commit
            successor = self.issue(
                client_id=current.client_id,
                user_id=current.user_id,
                audience=current.audience,
                scope=current.scope,
                now=now,
                lifetime=lifetime,
                family_id=current.family_id,
                connection=db,
            )
        return Rotation(RotateOutcome.ROTATED, current, user), successor

    def find(self, token: str) -> RefreshToken | None:
        """The record of ``token``, changing nothing (to decide before rotating)."""
        with self._engine.connect() as db:
            row = db.execute(
                sa.select(refresh_tokens).where(
                    refresh_tokens.c.token_digest == self._digest(token)
                )
            ).first()
        return None if row is None else _refresh(row)

    def revoke(self, token: str, *, client_id: str, now: float) -> Revocation | None:
        """Revoke the family of ``token`` if it belongs to ``client_id``; None if it is
        unknown or another client's."""
        digest = self._digest(token)
        with self._engine.begin() as db:
            row = db.execute(
                sa.select(refresh_tokens).where(
                    refresh_tokens.c.token_digest == digest,
                    refresh_tokens.c.client_id == client_id,
                )
            ).first()
            if row is None:
                return None
            record = _refresh(row)
            revoked = db.execute(
                refresh_tokens.update()
                .where(
                    refresh_tokens.c.family_id == record.family_id,
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            ).rowcount
        return Revocation(token=record, revoked=int(revoked))

    def revoke_user(self, user_id: str, *, now: float) -> int:
        with self._engine.begin() as db:
            return int(
                db.execute(
                    refresh_tokens.update()
                    .where(
                        refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None)
                    )
                    .values(revoked_at=now)
                ).rowcount
            )


def _key(row: Any) -> SigningKey:
    return SigningKey(
        kid=row.kid,
        alg=row.alg,
        private_jwk=row.private_jwk,
        created_at=row.created_at,
        retired_at=row.retired_at,
        kek_id=row.kek_id,
        revoked_at=row.revoked_at,
    )


class SigningKeys:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def all(self) -> list[SigningKey]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(signing_keys).order_by(signing_keys.c.created_at))
            return [_key(row) for row in rows]

    def add(self, key: SigningKey, *, retire_others: bool) -> None:
        """Store ``key`` as its algorithm's active key, retiring the previous one if asked."""
        with self._engine.begin() as db:
            if retire_others:
                db.execute(
                    signing_keys.update()
                    .where(signing_keys.c.alg == key.alg, signing_keys.c.retired_at.is_(None))
                    .values(retired_at=key.created_at)
                )
            elif db.execute(
                sa.select(signing_keys.c.kid).where(
                    signing_keys.c.alg == key.alg, signing_keys.c.retired_at.is_(None)
                )
            ).first():
                return  # another process created the first key meanwhile
            db.execute(
                signing_keys.insert().values(
                    kid=key.kid,
                    alg=key.alg,
                    private_jwk=key.private_jwk,
                    created_at=key.created_at,
                    retired_at=None,
                    kek_id=key.kek_id,
                )
            )

    def reseal(self, change: Callable[[SigningKey], SigningKey | None]) -> int:
        """Store what ``change`` makes of each key (None: leave it), all in one
        transaction; return how many changed. A key changed meanwhile by another process
        is left as that process wrote it. In a SQLite file the old bytes are overwritten
        (``secure_delete``), and a checkpoint then empties the write-ahead log if it can."""
        sqlite = self._engine.dialect.name == "sqlite"
        with self._engine.connect() as db:
            if sqlite:
                db.exec_driver_sql("PRAGMA secure_delete = ON")
                db.commit()
            try:
                with db.begin():
                    changed = self._reseal(db, change, lock=not sqlite)
                if sqlite and changed:
                    db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    db.commit()
            finally:
                if sqlite:
                    db.exec_driver_sql("PRAGMA secure_delete = OFF")
                    db.commit()
        return changed

    @staticmethod
    def _reseal(
        db: sa.Connection, change: Callable[[SigningKey], SigningKey | None], *, lock: bool
    ) -> int:
        if lock:  # PostgreSQL: nobody adds or changes a key meanwhile
            db.exec_driver_sql("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
        changed = 0
        for key in [_key(row) for row in db.execute(sa.select(signing_keys))]:
            new = change(key)
            if new is not None:
                changed += db.execute(
                    signing_keys.update()
                    .where(
                        signing_keys.c.kid == key.kid,
                        signing_keys.c.private_jwk == key.private_jwk,
                    )
                    .values(private_jwk=new.private_jwk, kek_id=new.kek_id)
                ).rowcount
        return changed

    def revoke(self, kid: str, now: float) -> SigningKey | None:
        """Revoke a retired key (the first revocation's time stays); None when no retired
        key has this ``kid`` (an active key is never revoked: rotate it out first)."""
        with self._engine.begin() as db:
            db.execute(
                signing_keys.update()
                .where(
                    signing_keys.c.kid == kid,
                    signing_keys.c.retired_at.is_not(None),
                    signing_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            row = db.execute(sa.select(signing_keys).where(signing_keys.c.kid == kid)).first()
        key = None if row is None else _key(row)
        return key if key is not None and key.revoked_at is not None else None

    def delete_retired_before(self, cutoff: float) -> int:
        with self._engine.begin() as db:
            return int(
                db.execute(
                    signing_keys.delete().where(
                        signing_keys.c.retired_at.is_not(None), signing_keys.c.retired_at < cutoff
                    )
                ).rowcount
            )
