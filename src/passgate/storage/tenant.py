"""Tenant-wide settings kept in the database (JSON values by key)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import sqlalchemy as sa

from passgate.storage.schema import tenant_settings

__all__ = ["TenantStore"]

_DIGEST_KEY = "digest_key"
DEFAULT_DIRECTORY = "default_directory"


class TenantStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, key: str, default: Any = None) -> Any:
        with self._engine.connect() as connection:
            value = connection.execute(
                sa.select(tenant_settings.c.value).where(tenant_settings.c.key == key)
            ).scalar_one_or_none()
        return default if value is None else json.loads(value)

    def set(self, key: str, value: Any) -> None:
        encoded = json.dumps(value)
        with self._engine.begin() as connection:
            updated = connection.execute(
                tenant_settings.update().where(tenant_settings.c.key == key).values(value=encoded)
            ).rowcount
            if not updated:
                connection.execute(tenant_settings.insert().values(key=key, value=encoded))

    def set_default(self, key: str, value: Any) -> Any:
        """Store ``value`` unless the key is set already; return what is stored (race-safe)."""
        encoded = json.dumps(value)
        with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                statement: Any = pg_insert(tenant_settings).on_conflict_do_nothing()
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                statement = sqlite_insert(tenant_settings).on_conflict_do_nothing()
            connection.execute(statement.values(key=key, value=encoded))
            stored = connection.execute(
                sa.select(tenant_settings.c.value).where(tenant_settings.c.key == key)
            ).scalar_one()
        return json.loads(stored)

    def digest_key(self) -> bytes:
        """The key of every keyed digest (client secrets, refresh tokens, links)."""
        return bytes.fromhex(self.set_default(_DIGEST_KEY, secrets.token_hex(32)))
