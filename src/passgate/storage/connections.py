"""Database connections (name, options, enabled clients) and users' password history.

A connection's ``options`` are stored as the JSON object
:func:`~passgate.domain.connection_options.check_options` answered; its enabled clients
are rows of ``connection_clients`` (deleting a client or the connection deletes them).
:class:`PasswordHistory` keeps argon2 hashes of users' previous passwords, never a
password.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from passgate.domain.models import Connection
from passgate.errors import InvalidValue
from passgate.storage.limits import check_length
from passgate.storage.schema import (
    clients,
    connection_clients,
    connections,
    password_history,
    users,
)
from passgate.support.crypto import new_id

__all__ = [
    "ConnectionStore",
    "DuplicateConnection",
    "PasswordHistory",
    "UnknownClients",
    "enable_on_every_connection",
    "insert_connection",
    "read_connection",
    "read_connections",
]

_COLUMNS = (
    connections.c.id,
    connections.c.name,
    connections.c.strategy,
    connections.c.display_name,
    connections.c.options,
)


class DuplicateConnection(InvalidValue):
    """Another connection has that name."""


class UnknownClients(InvalidValue):
    """``enabled_clients`` names clients that do not exist: ``client_ids``."""

    def __init__(self, client_ids: Sequence[str]) -> None:
        super().__init__("no such client: " + ", ".join(client_ids))
        self.client_ids = tuple(client_ids)


def _options_json(options: Mapping[str, Any]) -> str:
    return json.dumps(dict(options), ensure_ascii=False, separators=(",", ":"))


def read_connections(db: sa.Connection, *where: sa.ColumnElement[bool]) -> list[Connection]:
    """The connections matching ``where`` (all without), by name, with their clients."""
    rows = db.execute(sa.select(*_COLUMNS).where(*where).order_by(connections.c.name)).all()
    if not rows:
        return []
    pairs = db.execute(
        sa.select(connection_clients.c.connection_id, connection_clients.c.client_id)
        .where(connection_clients.c.connection_id.in_([row.id for row in rows]))
        .order_by(connection_clients.c.client_id)
    ).all()
    enabled: dict[str, list[str]] = {}
    for connection_id, client_id in pairs:
        enabled.setdefault(connection_id, []).append(client_id)
    return [
        Connection(
            id=row.id,
            name=row.name,
            options=json.loads(row.options) if row.options else {},
            enabled_clients=tuple(enabled.get(row.id, ())),
            display_name=row.display_name,
            strategy=row.strategy,
        )
        for row in rows
    ]


def read_connection(db: sa.Connection, where: sa.ColumnElement[bool]) -> Connection | None:
    found = read_connections(db, where)
    return found[0] if found else None


def _check_clients(db: sa.Connection, client_ids: Sequence[str]) -> None:
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return
    known = set(
        db.execute(sa.select(clients.c.client_id).where(clients.c.client_id.in_(wanted))).scalars()
    )
    missing = [client_id for client_id in wanted if client_id not in known]
    if missing:
        raise UnknownClients(missing)


def _set_clients(db: sa.Connection, connection_id: str, client_ids: Sequence[str] | None) -> None:
    """Enable exactly ``client_ids`` (None: every client there is)."""
    db.execute(
        connection_clients.delete().where(connection_clients.c.connection_id == connection_id)
    )
    if client_ids is None:
        db.execute(
            connection_clients.insert().from_select(
                ["connection_id", "client_id"],
                sa.select(sa.literal(connection_id), clients.c.client_id),
            )
        )
        return
    _check_clients(db, client_ids)
    wanted = list(dict.fromkeys(client_ids))
    if wanted:
        db.execute(
            connection_clients.insert(),
            [{"connection_id": connection_id, "client_id": cid} for cid in wanted],
        )


def insert_connection(
    db: sa.Connection,
    *,
    name: str,
    options: Mapping[str, Any],
    enabled_clients: Sequence[str] | None,
    display_name: str | None = None,
    now: float | None = None,
) -> str:
    """Insert a connection (``enabled_clients`` None: every client); its id. Raises
    ``sa.exc.IntegrityError`` when the name is taken, :class:`UnknownClients`."""
    check_length(connections.c.name, name, field="name")
    check_length(connections.c.display_name, display_name, field="display_name")
    connection_id = new_id("con_", 8)
    now = time.time() if now is None else now
    db.execute(
        connections.insert().values(
            id=connection_id,
            name=name,
            created_at=now,
            updated_at=now,
            strategy="auth0",
            display_name=display_name,
            options=_options_json(options),
        )
    )
    _set_clients(db, connection_id, enabled_clients)
    return connection_id


def enable_on_every_connection(db: sa.Connection, client_id: str) -> None:
    """A new client may use every connection there is (as Auth0's dashboard does)."""
    db.execute(
        connection_clients.insert().from_select(
            ["connection_id", "client_id"],
            sa.select(connections.c.id, sa.literal(client_id)),
        )
    )


class ConnectionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, connection_id: str) -> Connection | None:
        with self._engine.connect() as db:
            return read_connection(db, connections.c.id == connection_id)

    def by_name(self, name: str) -> Connection | None:
        with self._engine.connect() as db:
            return read_connection(db, connections.c.name == name)

    def list(self, *, name: str | None = None) -> list[Connection]:
        with self._engine.connect() as db:
            if name is not None:
                return read_connections(db, connections.c.name == name)
            return read_connections(db)

    def create(
        self,
        *,
        name: str,
        options: Mapping[str, Any],
        enabled_clients: Sequence[str] | None,
        display_name: str | None = None,
    ) -> Connection:
        """Raises :class:`DuplicateConnection`, :class:`UnknownClients`, ``ValueTooLong``."""
        try:
            with self._engine.begin() as db:
                connection_id = insert_connection(
                    db,
                    name=name,
                    options=options,
                    enabled_clients=enabled_clients,
                    display_name=display_name,
                )
        except sa.exc.IntegrityError as exc:
            raise DuplicateConnection("a connection with this name already exists") from exc
        created = self.get(connection_id)
        assert created is not None
        return created

    def update(
        self,
        connection_id: str,
        *,
        display_name: str | None = None,
        options: Mapping[str, Any] | None = None,
        enabled_clients: Sequence[str] | None = None,
    ) -> Connection | None:
        """Change what is given; None when there is no such connection. A history
        disabled (or made shorter) forgets the hashes no longer needed."""
        values: dict[str, Any] = {"updated_at": time.time()}
        if display_name is not None:
            check_length(connections.c.display_name, display_name, field="display_name")
            values["display_name"] = display_name
        if options is not None:
            values["options"] = _options_json(options)
        with self._engine.begin() as db:
            done = db.execute(
                connections.update().where(connections.c.id == connection_id).values(**values)
            ).rowcount
            if not done:
                return None
            if enabled_clients is not None:
                _set_clients(db, connection_id, enabled_clients)
            return read_connection(db, connections.c.id == connection_id)

    def user_count(self, connection_id: str) -> int:
        with self._engine.connect() as db:
            return int(
                db.execute(
                    sa.select(sa.func.count())
                    .select_from(users)
                    .where(users.c.connection_id == connection_id)
                ).scalar_one()
            )

    def delete(self, connection_id: str) -> bool:
        """Delete a connection holding no user (the caller checks); False when none."""
        with self._engine.begin() as db:
            db.execute(
                connection_clients.delete().where(
                    connection_clients.c.connection_id == connection_id
                )
            )
            return bool(
                db.execute(connections.delete().where(connections.c.id == connection_id)).rowcount
            )


class PasswordHistory:
    """Users' previous passwords, as the hashes their passwords had."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def recent(self, user_id: str, count: int) -> list[str]:
        """The hashes of the user's ``count`` most recent passwords, the current first."""
        if count <= 0:
            return []
        with self._engine.connect() as db:
            current = db.execute(
                sa.select(users.c.password_hash).where(users.c.id == user_id)
            ).scalar_one_or_none()
            older = db.execute(
                sa.select(password_history.c.password_hash)
                .where(password_history.c.user_id == user_id)
                .order_by(password_history.c.created_at.desc(), password_history.c.id.desc())
                .limit(count - 1)
            ).scalars()
            return ([current] if current else []) + list(older)

    def keep_current(self, user_id: str, size: int, *, now: float | None = None) -> None:
        """Before a password changes: keep the current one's hash when the history holds
        ``size`` passwords (the next current one included), and only the newest
        ``size - 1``; ``size`` 0 forgets them all."""
        now = time.time() if now is None else now
        keep = max(0, size - 1)
        with self._engine.begin() as db:
            if keep:
                db.execute(
                    password_history.insert().from_select(
                        ["user_id", "password_hash", "created_at"],
                        # argon2 hashes only (an imported legacy hash is not kept)
                        sa.select(users.c.id, users.c.password_hash, sa.literal(now)).where(
                            users.c.id == user_id, users.c.password_hash.startswith("$argon2")
                        ),
                    )
                )
            stale = (
                sa.select(password_history.c.id)
                .where(password_history.c.user_id == user_id)
                .order_by(password_history.c.created_at.desc(), password_history.c.id.desc())
                .offset(keep)
            )
            ids = list(db.execute(stale).scalars())
            if ids:
                db.execute(password_history.delete().where(password_history.c.id.in_(ids)))

    def forget_connection(self, connection_id: str) -> int:
        """Forget the history of every user of the connection (it stopped keeping one)."""
        members = sa.select(users.c.id).where(users.c.connection_id == connection_id)
        with self._engine.begin() as db:
            return int(
                db.execute(
                    password_history.delete().where(password_history.c.user_id.in_(members))
                ).rowcount
            )
