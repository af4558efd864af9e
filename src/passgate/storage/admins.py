"""Administrators of the console and their sessions, in SQL (SQLite and PostgreSQL).

An administrator is found by the canonical form of its email
(:func:`~passgate.domain.identifiers.canonical_identifier`), the one form every lookup
uses. A session is stored by the keyed digest of its cookie's token; the token never
reaches the database. Every method is blocking; a database fault is a
:class:`~passgate.errors.StorageError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa

from passgate.domain.admins import ADMIN_ID_PREFIX, Admin, AdminSession, Role
from passgate.domain.identifiers import canonical_identifier
from passgate.errors import Conflict, StorageError
from passgate.storage.schema import admin_sessions, admins
from passgate.support.crypto import keyed_digest, new_id

__all__ = ["AdminStore", "DuplicateAdmin"]


class DuplicateAdmin(Conflict):
    """An administrator with this email (in any spelling) exists already."""

    def __init__(self, email: str) -> None:
        super().__init__(f"an administrator with the email {email[:100]!r} exists already")


def _admin(row: Any) -> Admin:
    return Admin(
        id=row.id,
        email=row.email,
        role=cast(Role, row.role),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


@contextmanager
def _storage(what: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        raise StorageError(f"{what} failed: {exc}") from exc


class AdminStore:
    def __init__(self, engine: sa.Engine, digest_key: bytes) -> None:
        self._engine = engine
        self._key = digest_key

    # -- administrators ----------------------------------------------------------------
    def create(self, *, email: str, role: Role, password_hash: str, now: float) -> Admin:
        admin_id = new_id(ADMIN_ID_PREFIX, 9)
        values = {
            "id": admin_id,
            "email": email,
            "email_key": canonical_identifier(email),
            "role": role,
            "password_hash": password_hash,
            "created_at": now,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(admins.insert().values(**values))
        except sa.exc.IntegrityError:
            raise DuplicateAdmin(email) from None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"creating an administrator failed: {exc}") from exc
        return Admin(id=admin_id, email=email, role=role, created_at=now)

    def all(self) -> list[Admin]:
        query = sa.select(admins).order_by(admins.c.email_key)
        with _storage("listing administrators"), self._engine.connect() as connection:
            return [_admin(row) for row in connection.execute(query)]

    def get(self, admin_id: str) -> Admin | None:
        query = sa.select(admins).where(admins.c.id == admin_id)
        with _storage("reading an administrator"), self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _admin(row)

    def find_for_login(self, email: str) -> tuple[Admin, str] | None:
        """The administrator with this email (any spelling) and its password hash."""
        query = sa.select(admins).where(admins.c.email_key == canonical_identifier(email))
        with _storage("reading an administrator"), self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (_admin(row), row.password_hash)

    def find(self, id_or_email: str) -> Admin | None:
        """By id, or by email in any spelling."""
        found = self.get(id_or_email)
        if found is None:
            login = self.find_for_login(id_or_email)
            found = login[0] if login is not None else None
        return found

    def logged_in(self, admin_id: str, now: float, password_hash: str | None = None) -> None:
        """Note a login (and store a rehashed password, when given)."""
        values: dict[str, Any] = {"last_login_at": now}
        if password_hash is not None:
            values["password_hash"] = password_hash
        statement = admins.update().where(admins.c.id == admin_id).values(**values)
        with _storage("recording a login"), self._engine.begin() as connection:
            connection.execute(statement)

    def set_password(self, admin_id: str, password_hash: str) -> None:
        """Store a new password hash and end the administrator's sessions."""
        statement = admins.update().where(admins.c.id == admin_id)
        with _storage("changing a password"), self._engine.begin() as connection:
            connection.execute(statement.values(password_hash=password_hash))
            connection.execute(admin_sessions.delete().where(admin_sessions.c.admin_id == admin_id))

    def remove(self, admin_id: str) -> bool:
        """Delete the administrator and its sessions; False when there was none."""
        with _storage("removing an administrator"), self._engine.begin() as connection:
            connection.execute(admin_sessions.delete().where(admin_sessions.c.admin_id == admin_id))
            removed = connection.execute(admins.delete().where(admins.c.id == admin_id))
        return bool(removed.rowcount)

    # -- sessions ----------------------------------------------------------------------
    def digest(self, token: str) -> str:
        return keyed_digest(self._key, "admin-session:" + token)

    def start_session(self, admin_id: str, token: str, now: float) -> None:
        values = {
            "token_digest": self.digest(token),
            "admin_id": admin_id,
            "created_at": now,
            "last_seen": now,
        }
        with _storage("starting a session"), self._engine.begin() as connection:
            connection.execute(admin_sessions.insert().values(**values))

    def session(self, token: str) -> AdminSession | None:
        """The session of ``token`` with its administrator, None when there is none."""
        digest = self.digest(token)
        query = (
            sa.select(
                admins,
                admin_sessions.c.created_at.label("session_created_at"),
                admin_sessions.c.last_seen,
            )
            .join(admins, admins.c.id == admin_sessions.c.admin_id)
            .where(admin_sessions.c.token_digest == digest)
        )
        with _storage("reading a session"), self._engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return AdminSession(
            digest=digest,
            admin=_admin(row),
            created_at=row.session_created_at,
            last_seen=row.last_seen,
        )

    def touch(self, digest: str, now: float) -> None:
        statement = (
            admin_sessions.update()
            .where(admin_sessions.c.token_digest == digest)
            .values(last_seen=now)
        )
        with _storage("updating a session"), self._engine.begin() as connection:
            connection.execute(statement)

    def end_session(self, digest: str) -> None:
        statement = admin_sessions.delete().where(admin_sessions.c.token_digest == digest)
        with _storage("ending a session"), self._engine.begin() as connection:
            connection.execute(statement)

    def purge_sessions(self, *, idle_before: float, started_before: float) -> int:
        """Delete sessions idle since ``idle_before`` or begun before ``started_before``."""
        statement = admin_sessions.delete().where(
            sa.or_(
                admin_sessions.c.last_seen < idle_before,
                admin_sessions.c.created_at < started_before,
            )
        )
        with _storage("purging sessions"), self._engine.begin() as connection:
            return int(connection.execute(statement).rowcount or 0)
