"""Databases at an older schema revision, for the tests of the migrations after it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from passgate.storage import db
from passgate.storage.schema import metadata

__all__ = ["at_revision", "to_revision"]


def to_revision(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade (or with ``down``, downgrade) the schema to ``revision``."""
    config = Config()
    config.set_main_option("script_location", str(db._MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def at_revision(engine: sa.Engine, revision: str) -> None:
    """An empty database at ``revision``: the PostgreSQL test schema (shared with the other
    tests, so bring it back with ``to_revision(engine, "head")``) is emptied first."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(sa.text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    else:
        to_revision(engine, "base", down=True)
    to_revision(engine, revision)
