"""Client grants: which client may get client-credentials tokens for which API.

A grant names its API by the API's id, so that it follows the API when the identifier
changes (the Management API's follows the issuer); it is read with the API's identifier
as its ``audience``. One grant per client and API (a unique constraint); deleting the
client or the API deletes its grants (foreign keys, on both backends).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from passgate.domain.models import ClientGrant
from passgate.errors import PassgateError
from passgate.storage.schema import apis, client_grants

__all__ = ["ClientGrants", "GrantExists", "GrantFilter", "GrantTargetGone", "new_grant_id"]


class GrantExists(PassgateError):
    """The client has a grant for that API already; nothing was stored."""


class GrantTargetGone(PassgateError):
    """The client or the API was deleted while the grant was being created."""


_last_stamp = 0
_stamp_lock = threading.Lock()


def new_grant_id(now: float) -> str:
    """``cgr_`` then the time in milliseconds and 32 random bits, all hex: grants sort by
    creation, so a list paged by id meets the grants created meanwhile at its end. Within
    a process the stamp only grows (two grants in one millisecond keep their order)."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(int(now * 1000), _last_stamp + 1)
        stamp = _last_stamp
    return f"cgr_{stamp:011x}{secrets.token_hex(4)}"


def _grant(row: Any) -> ClientGrant:
    return ClientGrant(
        id=row.id,
        client_id=row.client_id,
        api_id=row.api_id,
        audience=row.identifier,
        scope=tuple(json.loads(row.scope)),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_SELECT = sa.select(client_grants, apis.c.identifier).join(
    apis, apis.c.id == client_grants.c.api_id
)


@dataclasses.dataclass(frozen=True, slots=True)
class GrantFilter:
    """Which grants a listing wants: one client's, one audience's, or all (exact match)."""

    client_id: str | None = None
    audience: str | None = None

    def apply(self, statement: sa.Select[Any]) -> sa.Select[Any]:
        if self.client_id is not None:
            statement = statement.where(client_grants.c.client_id == self.client_id)
        if self.audience is not None:
            statement = statement.where(apis.c.identifier == self.audience)
        return statement


class ClientGrants:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def create(self, *, client_id: str, api_id: str, scope: Sequence[str]) -> ClientGrant:
        """Store a new grant. Raises :class:`GrantExists` when the client has one for the
        API, :class:`GrantTargetGone` when the client or the API no longer exists."""
        now = time.time()
        grant_id = new_grant_id(now)
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    client_grants.insert().values(
                        id=grant_id,
                        client_id=client_id,
                        api_id=api_id,
                        scope=json.dumps(list(scope)),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            if self.find(client_id, api_id) is not None:
                raise GrantExists("the client has a grant for that API already") from exc
            raise GrantTargetGone("the client or the API was deleted meanwhile") from exc
        created = self.get(grant_id)
        assert created is not None
        return created

    def get(self, grant_id: str) -> ClientGrant | None:
        return self._one(client_grants.c.id == grant_id)

    def find(self, client_id: str, api_id: str) -> ClientGrant | None:
        """The grant of ``client_id`` for the API ``api_id`` (the token endpoint's lookup)."""
        return self._one(
            sa.and_(client_grants.c.client_id == client_id, client_grants.c.api_id == api_id)
        )

    def _one(self, condition: sa.ColumnElement[bool]) -> ClientGrant | None:
        with self._engine.connect() as connection:
            row = connection.execute(_SELECT.where(condition)).first()
        return None if row is None else _grant(row)

    def page(
        self,
        which: GrantFilter,
        *,
        limit: int,
        offset: int = 0,
        from_id: str | None = None,
    ) -> list[ClientGrant]:
        """Up to ``limit`` grants in creation order (by id): skipping ``offset``, or from
        the grant ``from_id`` on (that one included, whether or not it still exists)."""
        statement = which.apply(_SELECT)
        if from_id is not None:
            statement = statement.where(client_grants.c.id >= from_id)
        statement = statement.order_by(client_grants.c.id).offset(offset).limit(limit)
        with self._engine.connect() as connection:
            return [_grant(row) for row in connection.execute(statement)]

    def count(self, which: GrantFilter) -> int:
        statement = which.apply(
            sa.select(sa.func.count())
            .select_from(client_grants)
            .join(apis, apis.c.id == client_grants.c.api_id)
        )
        with self._engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def set_scope(self, grant_id: str, scope: Sequence[str]) -> ClientGrant | None:
        """Replace the grant's scopes; None when there is no such grant."""
        with self._engine.begin() as connection:
            updated = connection.execute(
                client_grants.update()
                .where(client_grants.c.id == grant_id)
                .values(scope=json.dumps(list(scope)), updated_at=time.time())
            ).rowcount
        return self.get(grant_id) if updated else None

    def delete(self, grant_id: str) -> bool:
        """Delete the grant; False when there was none."""
        with self._engine.begin() as connection:
            deleted = connection.execute(
                client_grants.delete().where(client_grants.c.id == grant_id)
            ).rowcount
        return bool(deleted)
