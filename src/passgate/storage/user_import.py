"""Writing imported users in batches, and reading every user back for an export.

Imported users are written in batches: one transaction and a few statements per batch.

A batch's users are matched against the connection's existing users by email, username
and user id (each on its index); new users are inserted together (one ``executemany``),
and, with ``upsert``, a user whose email exists has the properties its row gave updated
(Auth0's upsertable ones: ``email_verified``, the profile, the metadata; never the email,
username, password or ``blocked``). Should another writer take an email meanwhile, the
batch is written again one user at a time, so each user gets its own answer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Literal, NamedTuple, cast

import sqlalchemy as sa

from passgate.domain.identifiers import canonical_identifier
from passgate.domain.models import User, UserProfile
from passgate.storage.directory import select_users, user_from_row
from passgate.storage.schema import users
from passgate.support.crypto import new_ids

__all__ = ["ImportSession", "ImportedUser", "Outcome", "UserImports", "iter_users"]

Outcome = Literal["inserted", "updated", "duplicate", "conflict"]
#: Properties an upsert changes, and the columns they go to.
_UPSERTED = {
    "email_verified": ("email_verified",),
    "name": ("name",),
    "given_name": ("given_name",),
    "family_name": ("family_name",),
    "nickname": ("nickname",),
    "picture": ("picture",),
    "user_metadata": ("user_metadata",),
    "app_metadata": ("app_metadata",),
}


#: The columns an imported user fills, in the order of the driver's INSERT: the id and the
#: connection, :attr:`ImportedUser.columns`, then the columns every imported user shares.
_COLUMNS = (
    "id", "connection_id",
    "email", "email_key", "username", "username_key", "email_verified", "name",
    "given_name", "family_name", "nickname", "picture", "user_metadata", "app_metadata",
    "blocked", "password_hash",
    "password_leaked", "password_changed_at", "created_at", "updated_at",
)  # fmt: skip
#: Where each column is in :attr:`ImportedUser.columns`.
_AT = {name: index for index, name in enumerate(_COLUMNS[2:16])}
#: SQLite settings of an import's connection. A 64 MiB page cache (the default is 2 MiB):
#: a million users' five indexes are past the default, and a page missed is read again.
#: A checkpoint every 16,384 pages (64 MiB of WAL) instead of 1,000: each one writes and
#: syncs the pages changed since the last, and an index page changes in nearly every
#: batch. (Measured on a million users: 19 to 15 CPU seconds, 33 to 21 s in all.)
_IMPORT_PRAGMAS = {"cache_size": -64 * 1024, "wal_autocheckpoint": 16384}


class ImportedUser(NamedTuple):
    """An imported user, checked and ready to store: a plain tuple, so that a batch of
    them crosses to another process cheaply. Never shows its hash."""

    #: email, email_key, username, username_key, email_verified, name, given_name,
    #: family_name, nickname, picture, user_metadata (JSON), app_metadata (JSON), blocked,
    #: password_hash: the row's columns as :data:`_COLUMNS` lists them.
    columns: tuple[Any, ...]
    #: The user id stored (``auth0|…``), or None for a new one.
    user_id: str | None
    #: The row's own ``user_id``, as the file spelled it (for its error report).
    given_user_id: str | None
    #: The upsertable properties (:data:`_UPSERTED`) the row gave.
    given: tuple[str, ...]

    @classmethod
    def build(
        cls,
        *,
        email: str,
        username: str | None,
        user_id: str | None,
        given_user_id: str | None,
        email_verified: bool,
        blocked: bool,
        name: str | None,
        profile: UserProfile,
        user_metadata: str | None,
        app_metadata: str | None,
        password_hash: str,
        given: Collection[str],
    ) -> ImportedUser:
        """The user; ``user_metadata`` and ``app_metadata`` as
        :func:`~passgate.storage.directory.metadata_json` gives them."""
        columns = (
            email,
            canonical_identifier(email),
            username,
            canonical_identifier(username) if username else None,
            email_verified,
            name,
            profile.given_name,
            profile.family_name,
            profile.nickname,
            profile.picture,
            user_metadata,
            app_metadata,
            blocked,
            password_hash,
        )
        upserted = tuple(prop for prop in _UPSERTED if prop in given)
        return cls(columns, user_id, given_user_id, upserted)

    def __repr__(self) -> str:
        return f"ImportedUser(email_key={self.email_key!r}, user_id={self.user_id!r})"

    @property
    def email(self) -> str:
        return str(self.columns[0])

    @property
    def email_key(self) -> str:
        return str(self.columns[1])

    @property
    def username(self) -> str | None:
        return cast("str | None", self.columns[2])

    @property
    def username_key(self) -> str | None:
        return cast("str | None", self.columns[3])

    def upserted(self, now: float) -> dict[str, Any]:
        """The columns an upsert sets from this row."""
        changed: dict[str, Any] = {"updated_at": now}
        for prop in self.given:
            for column in _UPSERTED[prop]:
                changed[column] = self.columns[_AT[column]]
        return changed


class UserImports:
    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    @contextlib.contextmanager
    def session(self) -> Iterator[ImportSession]:
        """A writer of batches on one connection, for the whole import; on SQLite with a
        larger page cache and rarer checkpoints (:data:`_IMPORT_PRAGMAS`), put back as
        they were afterwards."""
        with self._engine.connect() as db:
            saved: dict[str, int] = {}
            if self._engine.dialect.name == "sqlite":
                for pragma, value in _IMPORT_PRAGMAS.items():
                    saved[pragma] = int(db.exec_driver_sql(f"PRAGMA {pragma}").scalar_one())
                    db.exec_driver_sql(f"PRAGMA {pragma} = {value}")
                db.commit()
            try:
                yield ImportSession(db, self._clock)
            finally:
                db.rollback()
                for pragma, value in saved.items():
                    db.exec_driver_sql(f"PRAGMA {pragma} = {value}")
                db.commit()


class ImportSession:
    """Writes an import's batches on one connection (:meth:`UserImports.session`).

    On PostgreSQL the table's statistics are refreshed (``ANALYZE``) after the first
    batch, then each time the session's users have doubled: planned on the statistics of
    a table still empty (a new database; autovacuum off, or not round yet), each batch's
    lookup read every user of the connection, and 200,000 users took 11 minutes."""

    def __init__(self, db: sa.Connection, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._postgresql = db.dialect.name == "postgresql"
        self._mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
        # The users this session inserted, and how many it had at its last ANALYZE.
        self._inserted = 0
        self._analyzed_at = 0

    def _marks(self, count: int) -> str:
        return ", ".join([self._mark] * count)

    def _existing(
        self, db: sa.Connection, connection_id: str, batch: Sequence[ImportedUser]
    ) -> tuple[dict[str, str], set[str], set[str]]:
        """(email key -> user id, username keys, ids) already taken among the batch's.
        On the driver directly: SQLAlchemy's statement layer cost more than the query."""
        emails = list({row.columns[1] for row in batch})
        names = list({row.columns[3] for row in batch if row.columns[3]})
        ids = list({row.user_id for row in batch if row.user_id})
        # Only placeholders are formatted into the SQL; every value is a parameter. Two
        # selects, each on its unique index: with ``email_key IN … OR username_key IN …``
        # SQLite used the connection's prefix only and read every user of the connection
        # per batch (an import slowed down as its table grew).
        sql = (
            "SELECT id, email_key, username_key FROM users WHERE connection_id = "  # noqa: S608
            f"{self._marks(1)} AND email_key IN ({self._marks(len(emails))})"
        )
        parameters: tuple[str, ...] = (connection_id, *emails)
        if names:
            sql += (
                " UNION ALL SELECT id, email_key, username_key FROM users WHERE "  # noqa: S608
                f"connection_id = {self._marks(1)} AND username_key IN "
                f"({self._marks(len(names))})"
            )
            parameters += (connection_id, *names)
        by_email: dict[str, str] = {}
        taken_names: set[str] = set()
        taken_ids: set[str] = set()
        for user_id, email_key, username_key in db.exec_driver_sql(sql, parameters):
            by_email[email_key] = user_id
            if username_key:
                taken_names.add(username_key)
        if ids:
            sql = f"SELECT id FROM users WHERE id IN ({self._marks(len(ids))})"  # noqa: S608
            found = db.exec_driver_sql(sql, tuple(ids))
            taken_ids.update(row[0] for row in found)
        return by_email, taken_names, taken_ids

    def write(
        self, connection_id: str, batch: Sequence[ImportedUser], *, upsert: bool, dry_run: bool
    ) -> list[Outcome]:
        """Each user's outcome, in order: inserted, updated (upsert), duplicate (taken
        and no upsert) or conflict (its username or user id is another user's)."""
        if not batch:
            return []
        db = self._db
        if dry_run:  # the same decisions, nothing written
            try:
                return self._write(db, connection_id, batch, upsert=upsert, dry_run=True)
            finally:
                db.rollback()
        try:
            with db.begin():
                outcomes = self._write(db, connection_id, batch, upsert=upsert, dry_run=False)
        except sa.exc.IntegrityError:
            if len(batch) == 1:
                return ["duplicate"]
        else:
            self._count(outcomes.count("inserted"))
            return outcomes
        # Taken meanwhile by another writer: one user at a time.
        return [
            outcome
            for row in batch
            for outcome in self.write(connection_id, [row], upsert=upsert, dry_run=dry_run)
        ]

    def _count(self, inserted: int) -> None:
        """Count the session's new users; ``ANALYZE`` on PostgreSQL when they doubled."""
        self._inserted += inserted
        if self._postgresql and self._inserted and self._inserted >= 2 * self._analyzed_at:
            with self._db.begin():
                self._db.exec_driver_sql("ANALYZE users")
            self._analyzed_at = self._inserted

    def _write(
        self,
        db: sa.Connection,
        connection_id: str,
        batch: Sequence[ImportedUser],
        *,
        upsert: bool,
        dry_run: bool,
    ) -> list[Outcome]:
        by_email, taken_names, taken_ids = self._existing(db, connection_id, batch)
        now = self._clock()
        outcomes: list[Outcome] = []
        inserts: list[tuple[Any, ...]] = []
        fresh = iter(new_ids("auth0|", 12, sum(1 for row in batch if row.user_id is None)))
        shared = (False, now, now, now)  # password_leaked, password_changed_at, created_at…
        for row in batch:
            columns = row.columns
            email_key, name_key = columns[1], columns[3]
            existing = by_email.get(email_key)
            if existing is not None:
                if not upsert:
                    outcomes.append("duplicate")
                    continue
                if not dry_run:
                    update = users.update().where(users.c.id == existing)
                    db.execute(update.values(**row.upserted(now)))
                outcomes.append("updated")
                continue
            if (name_key is not None and name_key in taken_names) or (
                row.user_id is not None and row.user_id in taken_ids
            ):
                outcomes.append("conflict")
                continue
            user_id = row.user_id if row.user_id is not None else next(fresh)
            inserts.append((user_id, connection_id, *columns, *shared))
            by_email[email_key] = user_id
            taken_ids.add(user_id)
            if name_key is not None:
                taken_names.add(name_key)
            outcomes.append("inserted")
        if inserts and not dry_run:
            marks = self._marks(len(_COLUMNS))
            sql = f"INSERT INTO users ({', '.join(_COLUMNS)}) VALUES ({marks})"  # noqa: S608
            db.exec_driver_sql(sql, inserts)
        return outcomes


def iter_users(
    engine: sa.Engine, *, connection_id: str | None, limit: int | None = None, page: int = 1000
) -> Iterator[User]:
    """Every user (of one connection, or all), oldest first, read a page at a time so
    that a million users never sit in memory together. Never the hash."""
    last: tuple[float, str] | None = None
    given = 0
    while limit is None or given < limit:
        statement = select_users().order_by(users.c.created_at, users.c.id)
        if connection_id is not None:
            statement = statement.where(users.c.connection_id == connection_id)
        if last is not None:
            statement = statement.where(
                sa.or_(
                    users.c.created_at > last[0],
                    sa.and_(users.c.created_at == last[0], users.c.id > last[1]),
                )
            )
        size = page if limit is None else min(page, limit - given)
        with engine.connect() as db:
            found = [user_from_row(row) for row in db.execute(statement.limit(size))]
        if not found:
            return
        yield from found
        given += len(found)
        last = (found[-1].created_at, found[-1].id)
