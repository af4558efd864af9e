"""Tenant-wide settings kept in the database: JSON values by key in ``tenant_settings``.

This is the one store that reads and writes that table. It does not cache:
:class:`~passgate.storage.settings_store.SettingsStore` keeps the attack-protection
policies read through it for a moment, so logins do not query them every time.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from passgate.errors import StorageError
from passgate.storage.schema import tenant_settings

__all__ = ["DEFAULT_DIRECTORY", "TenantStore", "decode"]

_DIGEST_KEY = "digest_key"
DEFAULT_DIRECTORY = "default_directory"

_ts = tenant_settings


def decode(key: str, text: str) -> Any:
    """The value of a stored JSON text (a fresh copy each time)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"tenant setting {key!r} is not valid JSON: {exc}") from exc


class TenantStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def text(self, key: str) -> str | None:
        """The stored JSON text of ``key``, None when the key was never set."""
        query = sa.select(_ts.c.value).where(_ts.c.key == key)
        try:
            with self._engine.connect() as connection:
                value: str | None = connection.execute(query).scalar_one_or_none()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"reading tenant setting {key!r} failed: {exc}") from exc
        return value

    def texts(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored JSON texts of those of ``keys`` that are set, in one query."""
        query = sa.select(_ts.c.key, _ts.c.value).where(_ts.c.key.in_(list(keys)))
        try:
            with self._engine.connect() as connection:
                return {key: text for key, text in connection.execute(query)}
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"reading tenant settings failed: {exc}") from exc

    def get(self, key: str, default: Any = None) -> Any:
        text = self.text(key)
        return default if text is None else decode(key, text)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, replacing what was there (one statement)."""
        text = _encode(value)
        insert = self._insert().values(key=key, value=text)
        statement = insert.on_conflict_do_update(index_elements=[_ts.c.key], set_={"value": text})
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"writing tenant setting {key!r} failed: {exc}") from exc

    def swap(self, key: str, old: str | None, value: Any) -> bool:
        """Store ``value`` only if the stored text is still ``old`` (the key absent when
        None): a compare-and-set. Returns whether it was stored."""
        text = _encode(value)
        statement: sa.Executable
        if old is None:
            statement = self._insert().values(key=key, value=text).on_conflict_do_nothing()
        else:
            statement = (
                sa.update(_ts).where(_ts.c.key == key, _ts.c.value == old).values(value=text)
            )
        # RETURNING says whether a row was written (an insert's rowcount is -1 on psycopg).
        statement = statement.returning(_ts.c.key)
        try:
            with self._engine.begin() as connection:
                return connection.execute(statement).first() is not None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"writing tenant setting {key!r} failed: {exc}") from exc

    def set_default(self, key: str, value: Any) -> Any:
        """Store ``value`` unless the key is set already; return what is stored (race-safe)."""
        statement = self._insert().values(key=key, value=_encode(value)).on_conflict_do_nothing()
        query = sa.select(_ts.c.value).where(_ts.c.key == key)
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
                stored: str = connection.execute(query).scalar_one()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"writing tenant setting {key!r} failed: {exc}") from exc
        return decode(key, stored)

    def digest_key(self) -> bytes:
        """The key of every keyed digest (client secrets, refresh tokens, links)."""
        return bytes.fromhex(self.set_default(_DIGEST_KEY, secrets.token_hex(32)))

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(_ts)
        return sqlite.insert(_ts)


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
