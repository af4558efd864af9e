"""Migration 0015: the dashboard's aggregates and the security alerts sent. The events
already in the log are counted by the first rollup (the cursor starts at 0); the
downgrade drops the tables; the migrated tables are the ones the metadata declares
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from passgate.domain.events import Event
from passgate.domain.rollups import hour_of
from passgate.storage import db
from passgate.storage.event_log import EventLog
from passgate.storage.event_rollups import EventRollups
from passgate.storage.schema import metadata
from tests.storage.migrations import at_revision, to_revision

TABLES = {"rollup_cursors", "rollup_hourly", "rollup_ips", "rollup_accounts", "security_alerts"}
T0 = 1_800_000_000.0


@pytest.fixture
def at_0014(sql_url: str) -> Iterator[sa.Engine]:
    """A database at revision 0014 with three events (the PostgreSQL schema is emptied)."""
    engine = db.make_engine(sql_url)
    at_revision(engine, "0014_admins")
    EventLog(engine).append(
        [
            Event("sepft", date=T0, log_id="a", ip="192.0.2.1", user_name="alice"),
            Event("ss", date=T0, log_id="b", ip="192.0.2.2", user_name="bob@example.com"),
            Event("limit_wc", date=T0 + 3600, log_id="c", ip="192.0.2.3", user_name="carol"),
        ]
    )
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def test_upgrade_makes_the_tables_and_the_first_roll_counts_older_events(
    at_0014: sa.Engine,
) -> None:
    assert not TABLES & set(sa.inspect(at_0014).get_table_names())
    to_revision(at_0014, "0015_event_rollups")
    assert set(sa.inspect(at_0014).get_table_names()) >= TABLES
    rollups = EventRollups(at_0014)
    assert rollups.cursor() == (0, 0.0)
    assert rollups.roll(now=T0).events == 3
    hourly = rollups.hourly(hour_of(T0), hour_of(T0) + 1)
    assert hourly[hour_of(T0), "logins"] == 1
    assert hourly[hour_of(T0), "signups"] == 1
    assert hourly[hour_of(T0) + 1, "brute_force_blocks"] == 1


def test_downgrade_drops_the_tables_and_keeps_the_events(at_0014: sa.Engine) -> None:
    to_revision(at_0014, "0015_event_rollups")
    to_revision(at_0014, "0014_admins", down=True)
    assert not TABLES & set(sa.inspect(at_0014).get_table_names())
    assert len(EventLog(at_0014).recent()) == 3


def test_the_migrated_tables_are_the_declared_ones(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, metadata)

    def table_of(difference: object) -> str | None:
        """The table a difference is about (alembic names it by a Table, an object of a
        table, or its name)."""
        for item in difference if isinstance(difference, tuple) else ():
            if isinstance(item, sa.Table):
                return item.name
            if isinstance(item, str) and item in TABLES:
                return item
            table = getattr(item, "table", None)
            if isinstance(table, sa.Table):
                return table.name
        return None

    flat = [d for group in differences for d in (group if isinstance(group, list) else [group])]
    mine = [d for d in flat if table_of(d) in TABLES]
    assert mine == []
