"""Migration 0006: the events table gains the search indexes (type, IP, user, client; each
with date and seq) in place of the one on type alone, and keeps its events; the
downgrade puts the old index back. The tables' metadata names the same indexes (SQLite
and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.storage import db
from passgate.storage.event_log import EventLog
from passgate.storage.schema import events
from tests.storage.migrations import at_revision, to_revision

SEARCH_INDEXES = {
    "ix_events_type_date": ["type", "date", "seq"],
    "ix_events_ip_date": ["ip", "date", "seq"],
    "ix_events_user_id_date": ["user_id", "date", "seq"],
    "ix_events_client_id_date": ["client_id", "date", "seq"],
}


def _indexes(engine: sa.Engine) -> dict[str, list[str | None]]:
    return {
        str(index["name"]): list(index["column_names"])
        for index in sa.inspect(engine).get_indexes("events")
    }


@pytest.fixture
def at_0005(sql_url: str) -> Iterator[sa.Engine]:
    """A database at revision 0005 with two events (the PostgreSQL schema is emptied first)."""
    engine = db.make_engine(sql_url)
    at_revision(engine, "0005_client_grants")
    EventLog(engine).append(
        [Event("fepft", date=1.0, log_id="a", ip="192.0.2.1"), Event("s", date=2.0, log_id="b")]
    )
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def test_upgrade_adds_the_search_indexes_and_keeps_the_events(at_0005: sa.Engine) -> None:
    assert "ix_events_type" in _indexes(at_0005)
    to_revision(at_0005, "0006_event_search")
    indexes = _indexes(at_0005)
    assert indexes.items() >= SEARCH_INDEXES.items()
    assert "ix_events_type" not in indexes
    assert indexes["ix_events_date"] == ["date"]
    assert [e.log_id for e in EventLog(at_0005).recent()] == ["b", "a"]


def test_downgrade_puts_the_type_index_back(at_0005: sa.Engine) -> None:
    to_revision(at_0005, "0006_event_search")
    to_revision(at_0005, "0005_client_grants", down=True)
    indexes = _indexes(at_0005)
    assert indexes["ix_events_type"] == ["type"]
    assert not SEARCH_INDEXES.keys() & indexes.keys()
    assert len(EventLog(at_0005).recent()) == 2


def test_the_metadata_names_the_migrated_indexes(engine: sa.Engine) -> None:
    declared = {str(index.name): [c.name for c in index.columns] for index in events.indexes}
    assert declared == {
        name: columns for name, columns in _indexes(engine).items() if name.startswith("ix_")
    }
