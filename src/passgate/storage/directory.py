"""Database connections and their users."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from passgate.domain.connection_options import MIGRATED_OPTIONS
from passgate.domain.identifiers import canonical_identifier, is_valid_username
from passgate.domain.models import Connection, User, UserProfile
from passgate.errors import InvalidValue
from passgate.storage.connections import insert_connection, read_connection, read_connections
from passgate.storage.db import DriverSql
from passgate.storage.limits import check_length
from passgate.storage.schema import connections, refresh_tokens, users
from passgate.support.crypto import new_id

__all__ = [
    "DEFAULT_CONNECTION",
    "UPDATABLE",
    "Directory",
    "DuplicateUser",
    "InvalidIdentifier",
    "UnknownConnection",
    "check_user_fields",
    "metadata_json",
    "read_user",
    "select_users",
    "user_from_row",
]

DEFAULT_CONNECTION = "Username-Password-Authentication"


class InvalidIdentifier(InvalidValue):
    """A username or email that could name another account's identifier."""


class DuplicateUser(InvalidValue):
    """A user with that email or username already exists in the connection."""


class UnknownConnection(InvalidValue):
    """No database connection has that name."""


def check_user_fields(
    *,
    email: str,
    username: str | None = None,
    name: str | None = None,
    profile: UserProfile | None = None,
) -> None:
    """Raise :class:`~passgate.storage.limits.ValueTooLong` when a user's field, or the
    case-folded key stored beside an email or username, does not fit its column. Pure:
    callers check before any query, and :meth:`Directory.create_user` checks again.
    (``user_metadata`` is bounded by :mod:`passgate.domain.profiles`' rules, not by a column.)"""
    check_length(users.c.email, email, field="email")
    check_length(users.c.email_key, canonical_identifier(email), field="email", folded=True)
    if username is not None:
        check_length(users.c.username, username, field="username")
        check_length(
            users.c.username_key, canonical_identifier(username), field="username", folded=True
        )
    check_length(users.c.name, name, field="name")
    if profile is not None:
        check_length(users.c.given_name, profile.given_name, field="given_name")
        check_length(users.c.family_name, profile.family_name, field="family_name")
        check_length(users.c.nickname, profile.nickname, field="nickname")
        check_length(users.c.picture, profile.picture, field="picture")


#: What :meth:`Directory.update_user` changes (column names; ``password_hash`` also lifts a
#: breached-password mark and stamps the change).
UPDATABLE = frozenset(
    {
        "email",
        "username",
        "email_verified",
        "blocked",
        "name",
        "given_name",
        "family_name",
        "nickname",
        "picture",
        "user_metadata",
        "app_metadata",
        "password_hash",
    }
)


#: ``json.dumps(…, ensure_ascii=False, separators=(",", ":"))`` without a new encoder a call.
_METADATA_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def metadata_json(metadata: Mapping[str, Any]) -> str | None:
    """Metadata as stored: compact JSON in the given order, null when empty."""
    if not metadata:
        return None
    return _METADATA_ENCODER.encode(metadata if isinstance(metadata, dict) else dict(metadata))


def _profile(
    given_name: str | None,
    family_name: str | None,
    nickname: str | None,
    picture: str | None,
    metadata_json: str | None,
) -> UserProfile:
    return UserProfile(
        given_name=given_name,
        family_name=family_name,
        nickname=nickname,
        picture=picture,
        user_metadata=json.loads(metadata_json) if metadata_json else {},
    )


def _user(row: Any) -> User:
    return User(
        id=row.id,
        connection_id=row.connection_id,
        connection=row.connection_name,
        email=row.email,
        username=row.username,
        email_verified=bool(row.email_verified),
        name=row.name,
        blocked=bool(row.blocked),
        password_leaked=bool(row.password_leaked),
        password_changed_at=row.password_changed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        profile=_profile(
            row.given_name, row.family_name, row.nickname, row.picture, row.user_metadata
        ),
        app_metadata=json.loads(row.app_metadata) if row.app_metadata else {},
    )


_USER_COLUMNS = (
    *(column for column in users.c if column.name != "password_hash"),
    connections.c.name.label("connection_name"),
)
_USERS_JOIN = users.join(connections, users.c.connection_id == connections.c.id)
# On every login: run on the driver directly (see ``DriverSql``).
_FIND_FOR_LOGIN = (
    "SELECT users.id, users.connection_id, connections.name, users.email, users.username, "
    "users.email_verified, users.name, users.blocked, users.password_leaked, "
    "users.password_changed_at, users.created_at, users.updated_at, users.given_name, "
    "users.family_name, users.nickname, users.picture, users.user_metadata, users.password_hash "
    "FROM users JOIN connections ON users.connection_id = connections.id "
    "WHERE users.connection_id = :connection_id "
    "AND users.{column} = :key"
)
# An identifier with "@" names an email, any other a username (a username has no "@" in
# any form), so each names at most one account of a connection.
_FIND_BY_EMAIL = _FIND_FOR_LOGIN.format(column="email_key")
_FIND_BY_USERNAME = _FIND_FOR_LOGIN.format(column="username_key")


def select_users() -> sa.Select[Any]:
    """A SELECT of users with their connection's name (never the hash): add conditions,
    then read each row with :func:`user_from_row`."""
    return sa.select(*_USER_COLUMNS).select_from(_USERS_JOIN)


def user_from_row(row: Any) -> User:
    return _user(row)


def read_user(connection: sa.Connection, user_id: str) -> User | None:
    """The user ``user_id`` as ``connection`` sees it (inside its transaction, if any)."""
    statement = sa.select(*_USER_COLUMNS).select_from(_USERS_JOIN).where(users.c.id == user_id)
    row = connection.execute(statement).first()
    return None if row is None else _user(row)


class Directory:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._driver = DriverSql(engine)

    # -- connections ---------------------------------------------------------------
    def ensure_connection(self, name: str) -> Connection:
        """The connection ``name``, created when missing with the options a connection
        had before they could be set (:data:`MIGRATED_OPTIONS`) and every client enabled."""
        check_length(connections.c.name, name, field="connection name")
        existing = self.connection_by_name(name)
        if existing is not None:
            return existing
        try:
            with self._engine.begin() as connection:
                insert_connection(
                    connection, name=name, options=MIGRATED_OPTIONS, enabled_clients=None
                )
        except sa.exc.IntegrityError:
            pass  # created concurrently
        found = self.connection_by_name(name)
        assert found is not None
        return found

    def connection_by_name(self, name: str) -> Connection | None:
        with self._engine.connect() as connection:
            return read_connection(connection, connections.c.name == name)

    def list_connections(self) -> list[Connection]:
        with self._engine.connect() as connection:
            return read_connections(connection)

    def _require_connection(self, name: str) -> Connection:
        found = self.connection_by_name(name)
        if found is None:
            raise UnknownConnection(f"no database connection named {name!r}")
        return found

    # -- users ---------------------------------------------------------------------
    def create_user(
        self,
        *,
        connection: str,
        email: str,
        password_hash: str,
        username: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
        profile: UserProfile | None = None,
        now: float | None = None,
        blocked: bool = False,
        app_metadata: Mapping[str, Any] | None = None,
    ) -> User:
        """Create a user. Raises :class:`~passgate.storage.limits.ValueTooLong` (a field
        does not fit its column), :class:`UnknownConnection` or :class:`DuplicateUser`;
        nothing is stored then. ``profile`` is stored as given (see :mod:`passgate.domain.profiles`
        for the rules sign-up applies first)."""
        profile = profile if profile is not None else UserProfile()
        check_user_fields(email=email, username=username, name=name, profile=profile)
        if username is not None and not is_valid_username(username):
            raise InvalidIdentifier("a username has no @, white space or control character")
        if "@" not in canonical_identifier(email):
            raise InvalidIdentifier("an email address has an @")
        conn = self._require_connection(connection)
        now = time.time() if now is None else now
        user_id = new_id("auth0|", 12)
        try:
            with self._engine.begin() as db:
                db.execute(
                    users.insert().values(
                        id=user_id,
                        connection_id=conn.id,
                        email=email,
                        email_key=canonical_identifier(email),
                        username=username,
                        username_key=canonical_identifier(username) if username else None,
                        email_verified=email_verified,
                        name=name,
                        given_name=profile.given_name,
                        family_name=profile.family_name,
                        nickname=profile.nickname,
                        picture=profile.picture,
                        user_metadata=metadata_json(profile.user_metadata),
                        app_metadata=metadata_json(app_metadata or {}),
                        blocked=blocked,
                        password_hash=password_hash,
                        password_leaked=False,
                        password_changed_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise DuplicateUser("the user already exists") from exc
        user = self.get_user(user_id)
        assert user is not None
        return user

    def find_for_login(self, connection_id: str, identifier: str) -> tuple[User, str] | None:
        """The user whose email or username is ``identifier`` (in its canonical form), with
        the hash."""
        params = {"connection_id": connection_id, "key": canonical_identifier(identifier)}
        statement = _FIND_BY_EMAIL if "@" in params["key"] else _FIND_BY_USERNAME
        rows = self._driver.rows(statement, params)
        if not rows:
            return None
        (
            user_id, connection_id, connection, email, username, email_verified, name,
            blocked, leaked, changed_at, created_at, updated_at,
            given_name, family_name, nickname, picture, metadata_json, password_hash,
        ) = rows[0]  # fmt: skip
        user = User(
            id=user_id,
            connection_id=connection_id,
            connection=connection,
            email=email,
            username=username,
            email_verified=bool(email_verified),
            name=name,
            blocked=bool(blocked),
            password_leaked=bool(leaked),
            password_changed_at=changed_at,
            created_at=created_at,
            updated_at=updated_at,
            profile=_profile(given_name, family_name, nickname, picture, metadata_json),
        )
        return user, password_hash

    def find_by_email(self, connection: str, email: str) -> User | None:
        statement = (
            sa.select(*_USER_COLUMNS)
            .select_from(_USERS_JOIN)
            .where(
                connections.c.name == connection, users.c.email_key == canonical_identifier(email)
            )
        )
        with self._engine.connect() as db:
            row = db.execute(statement).first()
        return None if row is None else _user(row)

    def get_user(self, user_id: str) -> User | None:
        with self._engine.connect() as connection:
            return read_user(connection, user_id)

    def find_user(self, id_or_email: str) -> User | None:
        """By user id, or by email in any connection (the first match)."""
        found = self.get_user(id_or_email)
        if found is not None:
            return found
        statement = (
            sa.select(*_USER_COLUMNS)
            .select_from(_USERS_JOIN)
            .where(users.c.email_key == canonical_identifier(id_or_email))
            .order_by(users.c.created_at)
            .limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _user(row)

    def users_by_email(self, email: str) -> list[User]:
        """The users whose email is ``email`` in any spelling, in every connection (oldest
        first)."""
        statement = (
            sa.select(*_USER_COLUMNS)
            .select_from(_USERS_JOIN)
            .where(users.c.email_key == canonical_identifier(email))
            .order_by(users.c.created_at, users.c.id)
        )
        with self._engine.connect() as db:
            return [_user(row) for row in db.execute(statement)]

    def update_user(self, user_id: str, values: Mapping[str, Any], *, now: float) -> User | None:
        """Change the columns ``values`` names (:data:`UPDATABLE`); None when there is no
        such user. Raises ``ValueTooLong``, :class:`InvalidIdentifier` or
        :class:`DuplicateUser` (the email or username is another user's), changing nothing."""
        unknown = set(values) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        row: dict[str, Any] = {"updated_at": now}
        for name, value in values.items():
            if name in ("user_metadata", "app_metadata"):
                row[name] = metadata_json(value)
            elif name == "password_hash":
                row.update(password_hash=value, password_leaked=False, password_changed_at=now)
            else:
                if isinstance(value, str):
                    check_length(users.c[name], value, field=name)
                row[name] = value
        if "email" in values:
            email = str(values["email"])
            check_user_fields(email=email)
            if "@" not in canonical_identifier(email):
                raise InvalidIdentifier("an email address has an @")
            row["email_key"] = canonical_identifier(email)
        if "username" in values:
            username = values["username"]
            if username is not None:
                check_user_fields(email="a@a", username=username)
                if not is_valid_username(username):
                    raise InvalidIdentifier("a username has no @, white space or control character")
            row["username_key"] = canonical_identifier(username) if username else None
        try:
            with self._engine.begin() as db:
                db.execute(users.update().where(users.c.id == user_id).values(**row))
                return read_user(db, user_id)
        except sa.exc.IntegrityError as exc:
            raise DuplicateUser("the email or username is another user's") from exc

    def delete_user(self, user_id: str) -> bool:
        """Delete the user and its refresh tokens; False when there was none."""
        with self._engine.begin() as db:
            db.execute(refresh_tokens.delete().where(refresh_tokens.c.user_id == user_id))
            deleted = db.execute(users.delete().where(users.c.id == user_id)).rowcount
        return bool(deleted)

    def list_users(self, *, connection: str | None = None, limit: int = 100) -> Sequence[User]:
        statement = sa.select(*_USER_COLUMNS).select_from(_USERS_JOIN)
        if connection is not None:
            statement = statement.where(connections.c.name == connection)
        statement = statement.order_by(users.c.created_at, users.c.id).limit(limit)
        with self._engine.connect() as db:
            return [_user(row) for row in db.execute(statement)]

    def _update(self, user_id: str, **values: Any) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                users.update().where(users.c.id == user_id).values(**values)
            )
        return bool(result.rowcount)

    def set_password(self, user_id: str, password_hash: str, *, now: float | None = None) -> bool:
        """A new password: also lifts a breached-password block."""
        now = time.time() if now is None else now
        return self._update(
            user_id,
            password_hash=password_hash,
            password_leaked=False,
            password_changed_at=now,
            updated_at=now,
        )

    def replace_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Rehash on login: only if the password has not changed meanwhile."""
        with self._engine.begin() as connection:
            result = connection.execute(
                users.update()
                .where(users.c.id == user_id, users.c.password_hash == old_hash)
                .values(password_hash=new_hash)
            )
        return bool(result.rowcount)

    def set_blocked(self, user_id: str, blocked: bool) -> bool:
        return self._update(user_id, blocked=blocked, updated_at=time.time())

    def mark_password_leaked(self, user_id: str) -> bool:
        return self._update(user_id, password_leaked=True, updated_at=time.time())
