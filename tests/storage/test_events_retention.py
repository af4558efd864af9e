"""Events retention: the purge job deletes events older than PASSGATE_EVENTS_RETENTION_DAYS,
in bounded batches, on SQLite and PostgreSQL, on a manual clock (nothing sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from passgate.app import Passgate
from passgate.domain.events import Event
from passgate.settings import Settings
from passgate.storage.event_log import EventLog
from passgate.storage.schema import events
from passgate.testing import ManualClock
from tests.support import cheap_settings

DAY = 24 * 3600.0
NOW = 1_800_000_000.0


def store(log: EventLog, *ages_days: float) -> None:
    log.append([Event(type="sepft", date=NOW - age * DAY, user_name=f"{age}") for age in ages_days])


def stored_ages(engine: sa.Engine) -> list[float]:
    with engine.connect() as connection:
        dates = connection.execute(sa.select(events.c.date).order_by(events.c.date)).scalars()
        return sorted(round((NOW - date) / DAY, 3) for date in dates)


class Statements:
    """The DELETE statements an engine runs, and its commits."""

    def __init__(self, engine: sa.Engine) -> None:
        self.deletes: list[int] = []
        self.commits = 0
        self._engine = engine
        sa.event.listen(engine, "after_cursor_execute", self._executed)
        sa.event.listen(engine, "commit", self._committed)

    def _executed(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM EVENTS"):
            self.deletes.append(cursor.rowcount)

    def _committed(self, conn: Any) -> None:
        self.commits += 1

    def remove(self) -> None:
        sa.event.remove(self._engine, "after_cursor_execute", self._executed)
        sa.event.remove(self._engine, "commit", self._committed)


def test_purge_deletes_older_events_in_batches_of_its_own_transactions(
    engine: sa.Engine,
) -> None:
    log = EventLog(engine)
    store(log, *[40 + i / 100 for i in range(25)], 30, 29.999, 1, 0)
    statements = Statements(engine)
    try:
        assert log.purge(NOW - 30 * DAY, batch_size=10, pause_s=0) == 25
    finally:
        statements.remove()
    assert statements.deletes == [10, 10, 5]
    assert statements.commits == 3
    # Exactly 30 days old is kept: only what is older than the cutoff goes.
    assert stored_ages(engine) == [0, 1, 29.999, 30]


def test_purge_with_nothing_to_delete_runs_one_statement(engine: sa.Engine) -> None:
    log = EventLog(engine)
    store(log, 1, 2)
    statements = Statements(engine)
    try:
        assert log.purge(NOW - 30 * DAY, pause_s=0) == 0
    finally:
        statements.remove()
    assert statements.deletes == [0]
    assert stored_ages(engine) == [1, 2]


def test_purge_of_an_exact_multiple_of_the_batch_ends(engine: sa.Engine) -> None:
    log = EventLog(engine)
    store(log, *[50 + i for i in range(20)])
    assert log.purge(NOW - 30 * DAY, batch_size=10, pause_s=0) == 20
    assert stored_ages(engine) == []


@pytest.fixture
def passgate_on(tmp_path: Path, sql_url: str) -> Iterator[Any]:
    built: list[Passgate] = []

    def make(**overrides: Any) -> Passgate:
        settings = cheap_settings(tmp_path, sql_url, issuer="https://passgate.test/", **overrides)
        passgate = Passgate(settings, clock=ManualClock(NOW), buffered_events=False)
        built.append(passgate)
        return passgate

    yield make
    for passgate in built:
        passgate.close()


def test_the_purge_job_keeps_30_days_of_events_by_default(passgate_on: Any) -> None:
    passgate = passgate_on()
    assert passgate.settings.events_retention_days == 30
    store(passgate.event_log, 400, 31, 30.01, 29.99, 0)
    passgate.purge()
    assert stored_ages(passgate.engine) == [0, 29.99]
    clock = passgate.clock
    assert isinstance(clock, ManualClock)
    clock.advance(DAY)  # a day later the 29.99-day-old event is 30.99 days old
    passgate.purge()
    assert stored_ages(passgate.engine) == [0]


def test_the_purge_job_follows_the_retention_setting(passgate_on: Any) -> None:
    passgate = passgate_on(events_retention_days=7)
    store(passgate.event_log, 8, 6)
    passgate.purge()
    assert stored_ages(passgate.engine) == [6]


def test_retention_0_keeps_events_forever(passgate_on: Any) -> None:
    passgate = passgate_on(events_retention_days=0)
    store(passgate.event_log, 5000, 31, 0)
    passgate.purge()
    assert stored_ages(passgate.engine) == [0, 31, 5000]


@pytest.mark.parametrize("value", ["-1", "3651", "soon", "1.5", ""])
def test_a_retention_outside_0_to_3650_days_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_EVENTS_RETENTION_DAYS", value)
    with pytest.raises(ValidationError, match="events_retention_days"):
        Settings()


@pytest.mark.parametrize(("value", "days"), [("0", 0), ("1", 1), ("90", 90), ("3650", 3650)])
def test_a_retention_in_range_is_accepted(
    value: str, days: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSGATE_EVENTS_RETENTION_DAYS", value)
    assert Settings().events_retention_days == days
