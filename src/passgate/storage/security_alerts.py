"""Security alerts sent, one row per alert kind and hour: the row is the claim.

:meth:`AlertClaims.claim` inserts the row (``ON CONFLICT DO NOTHING``) and says whether
this caller made it: of several workers and instances that find the same hour's
threshold crossed, exactly one gets ``True`` and sends the alert.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from passgate.errors import StorageError
from passgate.storage.db import write_lock
from passgate.storage.schema import security_alerts

__all__ = ["AlertClaims", "SentAlert"]

_sa = security_alerts


@dataclasses.dataclass(frozen=True, slots=True)
class SentAlert:
    kind: str
    hour: int
    fired_at: float
    details: Mapping[str, Any]


class AlertClaims:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def claim(self, kind: str, hour: int, *, now: float, details: Mapping[str, Any]) -> bool:
        """Record the alert of ``kind`` for ``hour``; True when this call recorded it
        (False: it was recorded before, by this process or another)."""
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(_sa)
            .values(kind=kind, hour=hour, fired_at=now, details=json.dumps(dict(details)))
            .on_conflict_do_nothing()
            .returning(_sa.c.kind)
        )
        try:
            with write_lock(self._engine), self._engine.begin() as db:
                return db.execute(statement).first() is not None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot record a security alert: {type(exc).__name__}") from exc

    def since(self, first_hour: int) -> list[SentAlert]:
        """The alerts of hours from ``first_hour`` on, newest first."""
        query = (
            sa.select(_sa).where(_sa.c.hour >= first_hour).order_by(_sa.c.hour.desc(), _sa.c.kind)
        )
        try:
            with self._engine.connect() as db:
                rows = db.execute(query).all()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot read the security alerts: {type(exc).__name__}") from exc
        return [
            SentAlert(str(r.kind), int(r.hour), float(r.fired_at), json.loads(r.details))
            for r in rows
        ]

    def purge(self, before_hour: int) -> int:
        try:
            with write_lock(self._engine), self._engine.begin() as db:
                return int(db.execute(_sa.delete().where(_sa.c.hour < before_hour)).rowcount)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot purge the security alerts: {type(exc).__name__}") from exc
