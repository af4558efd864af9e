"""Refresh tokens (stored as digests, rotated, families) and signing keys."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from passgate.domain.models import RefreshToken, SigningKey
from passgate.storage.schema import refresh_tokens, signing_keys
from passgate.support.crypto import keyed_digest, new_id, new_secret

__all__ = ["RefreshTokens", "Revocation", "RotateOutcome", "Rotation", "SigningKeys"]


class RotateOutcome(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    REUSED = "reused"  # an already rotated token: the whole family is revoked
    REVOKED = "revoked"
    EXPIRED = "expired"
    WRONG_CLIENT = "wrong_client"


@dataclasses.dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RotateOutcome
    token: RefreshToken | None = None


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

        A token used a second time revokes its whole family (RFC 9700 §4.14.2).
        """
        digest = self._digest(token)
        with self._engine.begin() as db:
            row = db.execute(
                sa.select(refresh_tokens).where(refresh_tokens.c.token_digest == digest)
            ).first()
            if row is None:
                return Rotation(RotateOutcome.UNKNOWN), None
            current = _refresh(row)
            if current.client_id != client_id:
                return Rotation(RotateOutcome.WRONG_CLIENT, current), None
            if current.revoked_at is not None:
                return Rotation(RotateOutcome.REVOKED, current), None
            if current.expires_at <= now:
                return Rotation(RotateOutcome.EXPIRED, current), None
            claimed = db.execute(
                refresh_tokens.update()
                .where(refresh_tokens.c.token_digest == digest, refresh_tokens.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if not claimed:
                db.execute(
                    refresh_tokens.update()
                    .where(
                        refresh_tokens.c.family_id == current.family_id,
                        refresh_tokens.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=now)
                )
                return Rotation(RotateOutcome.REUSED, current), None
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
        return Rotation(RotateOutcome.ROTATED, current), successor

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

    def delete_retired_before(self, cutoff: float) -> int:
        with self._engine.begin() as db:
            return int(
                db.execute(
                    signing_keys.delete().where(
                        signing_keys.c.retired_at.is_not(None), signing_keys.c.retired_at < cutoff
                    )
                ).rowcount
            )
