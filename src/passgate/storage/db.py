"""Engines for the embedded SQLite default and for PostgreSQL, and schema migrations."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from passgate.support.urls import check_database_url, normalise_database_url, sqlite_url

__all__ = [
    "DriverSql",
    "check_database_url",
    "current_revision",
    "make_engine",
    "migrate",
    "sqlite_url",
    "write_lock",
]

_WRITE_LOCKS: weakref.WeakKeyDictionary[sa.Engine, threading.Lock] = weakref.WeakKeyDictionary()
_NO_LOCK = contextlib.nullcontext()

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while one writer writes, across worker processes; the busy
    # timeout makes a writer wait for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _primary_message_only(error: psycopg.Error) -> None:
    """Cut ``error``'s text to PostgreSQL's primary message. The rest (``DETAIL``,
    ``CONTEXT``...) can quote the values of the row or key concerned (``Failing row
    contains (…)``, ``Key (email_key)=(…)``), statement parameters by another name.
    The exception's class and ``diag`` keep every field for code that asks."""
    primary = error.diag.message_primary
    if primary:
        error.args = (primary,)


class _PrimaryMessageCursor(psycopg.Cursor[Any]):
    """A cursor whose errors say no more than PostgreSQL's primary message, before
    SQLAlchemy or :class:`DriverSql` wrap them (see :func:`_primary_message_only`)."""

    def execute(self, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().execute(*args, **kwargs)
        except psycopg.Error as error:
            _primary_message_only(error)
            raise

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().executemany(*args, **kwargs)
        except psycopg.Error as error:
            _primary_message_only(error)
            raise


def _postgresql_on_connect(dbapi_connection: psycopg.Connection[Any], _record: Any) -> None:
    dbapi_connection.cursor_factory = _PrimaryMessageCursor


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (SQLite or PostgreSQL) that never shows a statement's
    parameters: not in its errors (``hide_parameters``), not in PostgreSQL's error text
    (its primary message only), so no password hash, digest or key reaches a log or a
    traceback through a failing statement."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10.0},
            pool_size=8,
            max_overflow=16,
            hide_parameters=True,
        )
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        _WRITE_LOCKS[engine] = threading.Lock()
        return engine
    engine = sa.create_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )
    if engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "connect", _postgresql_on_connect)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision of the database (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: sa.Engine) -> list[str]:
    """Bring the database schema to the newest revision (idempotent); return the revisions
    applied, oldest first, each as ``"ID: message"`` (empty when it was up to date)."""
    before = current_revision(engine)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    after = current_revision(engine)
    if after == before:
        return []
    scripts = ScriptDirectory.from_config(config)
    applied = list(scripts.iterate_revisions(after, before))
    return [f"{script.revision}: {script.doc}" for script in reversed(applied)]


def write_lock(engine: sa.Engine) -> contextlib.AbstractContextManager[object]:
    """Hold around a hot write transaction: on SQLite, one writer per process at a time.

    SQLite lets one writer in at a time; a writer that finds the lock taken waits in
    SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries. Threads of one
    process queue on this lock instead and get the database as soon as it is free. (Other
    processes still meet the busy handler.) On PostgreSQL it does nothing.
    """
    return _WRITE_LOCKS.get(engine, _NO_LOCK)


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@contextlib.contextmanager
def _sqlite_transaction(connection: sqlite3.Connection, *, explicit: bool) -> Iterator[None]:
    """On an autocommit connection: with ``explicit``, an immediate transaction (taking
    the write lock up front, so it is waited for rather than upgraded into)."""
    if explicit:
        connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        if explicit:
            connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _run_statements(
    cursor: Any,
    statements: Sequence[tuple[str, Mapping[str, Any] | Sequence[Any]]],
    stop_after_rows: bool,
) -> tuple[Any, int]:
    row: Any = None
    count = 0
    for sql, params in statements:
        cursor.execute(sql, params)
        found = cursor.fetchall() if cursor.description else []  # runs it to its end
        row = found[0] if found else None
        count = cursor.rowcount
        if stop_after_rows and count > 0:
            break
    return row, count


class _SqliteConnection:
    """A driver connection to a SQLite file in autocommit mode, and the lock its users
    hold (a shared one is used by one thread at a time)."""

    __slots__ = ("db", "lock")

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        _sqlite_on_connect(self.db, None)
        self.lock = threading.Lock()


#: This process's shared connections, by engine (closed when the engine goes). A forked
#: child opens its own: the count of forks tells a thread-local connection that it was
#: inherited (no getpid per statement).
_SHARED_SQLITE: weakref.WeakKeyDictionary[sa.Engine, _SqliteConnection] = (
    weakref.WeakKeyDictionary()
)
_SHARED_SQLITE_LOCK = threading.Lock()
_forks = [0]


def _after_fork_in_child() -> None:
    _SHARED_SQLITE.clear()
    _forks[0] += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def _shared_sqlite(engine: sa.Engine, path: str) -> _SqliteConnection:
    connection = _SHARED_SQLITE.get(engine)
    if connection is None:
        with _SHARED_SQLITE_LOCK:
            connection = _SHARED_SQLITE.get(engine)
            if connection is None:
                connection = _SHARED_SQLITE[engine] = _SqliteConnection(path)
    return connection


class DriverSql:
    """Runs prepared SQL straight on the driver (sqlite3 or psycopg), for the few
    statements on every login's path: SQLAlchemy's execution layer costs ~50 µs a
    statement, the driver ~10 µs. SQL is written with ``:name`` parameters (both dialects).
    Errors are the driver's own; the caller maps them.

    On a SQLite file the statements run on a driver connection in autocommit mode, not a
    pool checkout (its checkout and reset cost more than the statement, most of all right
    after a password hash has flushed the CPU caches). With ``shared`` (the default) every
    thread of the process uses one connection, in turn: SQLite empties a connection's page
    cache whenever another connection has written, so with one connection per thread each
    login's reads re-read their pages from the file (about 25 ``pread`` calls a login,
    measured with strace). A statement that waits for another process's write lock holds
    the connection meanwhile. Without ``shared`` each thread has its own connection: the
    event log's, whose large batches should not hold up the logins' statements."""

    def __init__(self, engine: sa.Engine, *, shared: bool = True) -> None:
        self._engine = engine
        self._pyformat = engine.dialect.name != "sqlite"
        self._prepared: dict[str, str] = {}
        self._numbered: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.errors: tuple[type[BaseException], ...] = (engine.dialect.loaded_dbapi.Error,)
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._sqlite_path = database if database and database != ":memory:" else None
        self._shared = shared
        self._local = threading.local()

    def _sql(self, sql: str) -> str:
        prepared = self._prepared.get(sql)
        if prepared is None:
            prepared = _NAMED.sub(r"%(\1)s", sql) if self._pyformat else sql
            self._prepared[sql] = prepared
        return prepared

    def _positional(self, sql: str, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """``sql`` with numbered parameters (``?1``…), and ``params`` in their order.

        sqlite3 lets other threads take the GIL around each of its calls into SQLite, and
        binding a named parameter is one more such call per parameter (looking up its
        name); each is a chance for the event loop to take the GIL and for this thread to
        wait for it. Numbered parameters are bound by position, without that call."""
        numbered = self._numbered.get(sql)
        if numbered is None:
            names: dict[str, int] = {}

            def number(match: re.Match[str]) -> str:
                return f"?{names.setdefault(match.group(1), len(names) + 1)}"

            numbered = self._numbered[sql] = (_NAMED.sub(number, sql), tuple(names))
        text, names_in_order = numbered
        return text, tuple([params[name] for name in names_in_order])

    def _sqlite(self, path: str) -> _SqliteConnection:
        if self._shared:
            return _shared_sqlite(self._engine, path)
        local = self._local
        if getattr(local, "forks", None) != _forks[0]:  # new thread, or a forked child
            local.connection = _SqliteConnection(path)
            local.forks = _forks[0]
        connection: _SqliteConnection = local.connection
        return connection

    @contextlib.contextmanager
    def _pooled(self) -> Iterator[Any]:
        """A pooled driver connection, committed at the end (rolled back on error)."""
        connection = self._engine.raw_connection()
        try:
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def run(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]], *, stop_after_rows: bool = False
    ) -> tuple[Any, int]:
        """Run ``statements`` in one transaction and commit; return the first row of the
        last statement run (or None) and its row count. With ``stop_after_rows``, stop at
        the first statement that touched rows."""
        if self._sqlite_path is not None:
            sqlite = self._sqlite(self._sqlite_path)
            numbered = [self._positional(sql, params) for sql, params in statements]
            # One statement is its own transaction; several share an immediate one.
            with sqlite.lock, _sqlite_transaction(sqlite.db, explicit=len(statements) > 1):
                return _run_statements(sqlite.db.cursor(), numbered, stop_after_rows)
        with self._pooled() as pooled:
            prepared = [(self._sql(sql), params) for sql, params in statements]
            return _run_statements(pooled.cursor(), prepared, stop_after_rows)

    def run_many(
        self,
        sql: str,
        rows: Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]],
        *,
        first: str | None = None,
    ) -> None:
        """Run ``sql`` once per row of parameters, all in one transaction (after ``first``,
        a statement without parameters, when given). Positional parameters are the
        driver's own (``?`` for sqlite3, ``%s`` for psycopg)."""
        if self._sqlite_path is not None:
            sqlite = self._sqlite(self._sqlite_path)
            with sqlite.lock, _sqlite_transaction(sqlite.db, explicit=True):
                if first is not None:
                    sqlite.db.execute(first)
                sqlite.db.executemany(sql, rows)
            return
        with self._pooled() as pooled:
            cursor = pooled.cursor()
            if first is not None:
                cursor.execute(first)
            cursor.executemany(self._sql(sql), rows)

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        if self._sqlite_path is not None:
            sqlite = self._sqlite(self._sqlite_path)
            numbered, values = self._positional(sql, params)
            with sqlite.lock:
                return sqlite.db.execute(numbered, values).fetchall()
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self._sql(sql), params)
            found = cursor.fetchall()
            connection.rollback()
            return list(found)
        finally:
            connection.close()
