"""Opening the configured database the way every passgate process does."""

from __future__ import annotations

import sqlalchemy as sa

from passgate.settings import Settings
from passgate.storage.db import make_engine, migrate
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.tenant import DEFAULT_DIRECTORY, TenantStore

__all__ = ["open_database"]


def open_database(settings: Settings, *, run_migrations: bool = True) -> sa.Engine:
    """The configured engine, migrated, with the default connection present."""
    if settings.uses_sqlite:
        settings.prepare_data_dir()
    engine = make_engine(settings.sql_url)
    if run_migrations:
        migrate(engine)
        Directory(engine).ensure_connection(DEFAULT_CONNECTION)
        TenantStore(engine).set_default(DEFAULT_DIRECTORY, DEFAULT_CONNECTION)
    return engine
