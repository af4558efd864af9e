"""The event log keeps every event it can, on every SQL backend (``sql_url``).

Each string an event stores is cut to its column's length, ending in "…", so a long value
never costs the event; an event that still cannot be stored costs only itself, never the
rest of its batch, and is logged by type and id, without its content.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from passgate.domain.events import Event
from passgate.storage.event_log import BufferedEventSink, EventLog
from passgate.storage.limits import MARKER
from passgate.storage.schema import events
from tests.test_accounts import CONTEXT, make_harness

NOW = 1_800_000_000.0
SECRET = "a-secret-in-the-details-5e1f"

#: Every string field of an event with a bounded column, and its length.
BOUNDED = {
    "log_id": 64,
    "type": 32,
    "ip": 64,
    "client_ip": 64,
    "client_id": 64,
    "client_name": 256,
    "connection": 128,
    "user_id": 64,
    "user_name": 320,
    "audience": 600,
}
UNBOUNDED = ("description", "user_agent", "scope")


def test_the_bounds_are_the_tables() -> None:
    bounded = {
        column.name: column.type.length
        for column in events.c
        if isinstance(column.type, sa.String) and column.type.length
    }
    assert bounded == BOUNDED


def event_with(length: int | None, letter: str) -> Event:
    """Every string field of ``length`` characters (its column's length when None)."""
    values: dict[str, Any] = {
        name: letter * (size if length is None else length) for name, size in BOUNDED.items()
    }
    values.update({name: letter * (length or 5000) for name in UNBOUNDED})
    return Event(date=NOW, **values, details={"reason": letter * (length or 5000)})


@pytest.mark.parametrize("letter", ["x", "é", "ß"])
def test_values_past_their_column_are_cut_with_a_marker(engine: sa.Engine, letter: str) -> None:
    log = EventLog(engine)
    log.append([event_with(20_000, letter)])
    [stored] = log.recent()
    for name, size in BOUNDED.items():
        value = getattr(stored, name)
        assert value == letter * (size - 1) + MARKER, name
    for name in UNBOUNDED:
        assert getattr(stored, name) == letter * 20_000, name
    assert stored.details == {"reason": letter * 20_000}


@pytest.mark.parametrize("letter", ["x", "é"])
def test_values_at_their_limit_are_stored_whole(engine: sa.Engine, letter: str) -> None:
    log = EventLog(engine)
    event = event_with(None, letter)
    log.append([event])
    assert log.recent() == [event]
    assert log.get(event.log_id) == event


def test_sign_up_and_password_reset_events_with_a_long_client_id_are_stored(
    engine: sa.Engine,
) -> None:
    """signup and change_password accept a client_id of up to 128 characters; the
    events column holds 64."""
    h = make_harness(engine)
    long_id = "c" * 128
    fields = {"client_id": long_id, "email": "ada@example.com", "connection": "x"}
    with pytest.raises(Exception, match="Unknown client"):
        h.accounts.signup({**fields, "password": "a long passphrase"}, CONTEXT)
    with pytest.raises(Exception, match="Unknown client"):
        h.accounts.request_password_reset(fields, CONTEXT)
    log = EventLog(engine)
    log.append(h.events.events)
    stored = log.recent()
    assert [event.type for event in stored] == ["fcpr", "fs"]
    assert {event.client_id for event in stored} == {"c" * 63 + MARKER}


def unserialisable() -> Event:
    return Event(type="fs", date=NOW + 2, details={"reason": "lone \ud800 surrogate " + SECRET})


def unencodable() -> Event:
    return Event(type="fs", date=NOW + 2, user_agent="lone \udcff surrogate " + SECRET)


@pytest.mark.parametrize("bad", [unserialisable, unencodable], ids=["details", "field"])
def test_one_event_that_cannot_be_stored_costs_only_itself(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture, bad: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    log = EventLog(engine)
    refused: Event = bad()
    batch = [Event(type="fepft", date=NOW + 1), refused, Event(type="sertft", date=NOW + 3)]
    log.append(batch)
    assert [event.type for event in log.recent()] == ["sertft", "fepft"]
    assert f"could not store a fs event {refused.log_id}" in caplog.text
    assert SECRET not in caplog.text


def test_a_refused_event_alone_is_logged_not_raised(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog(engine)
    refused = unencodable()
    log.emit(refused)
    assert log.recent() == []
    assert f"could not store a fs event {refused.log_id}" in caplog.text


def test_the_buffered_sink_loses_only_the_bad_event_of_a_batch(engine: sa.Engine) -> None:
    log = EventLog(engine)
    sink = BufferedEventSink(log, interval=0.05)
    for index in range(20):
        sink.emit(Event(type="sepft", date=NOW + index))
        if index == 10:
            sink.emit(unserialisable())
            sink.emit(Event(type="sepft", date=NOW + 99, client_id="z" * 500))
    sink.close()
    stored = log.recent(limit=100)
    assert len(stored) == 21
    [long] = [event for event in stored if event.date == NOW + 99]
    assert long.client_id == "z" * 63 + MARKER
