"""The event's stored columns are named once (``EVENT_COLUMNS``), for the log and its search."""

from __future__ import annotations

import dataclasses

from passgate.domain.events import EVENT_COLUMNS, Event


def test_every_field_but_details_is_a_column_once() -> None:
    fields = [field.name for field in dataclasses.fields(Event)]
    assert sorted(EVENT_COLUMNS) == sorted(name for name in fields if name != "details")
    assert len(set(EVENT_COLUMNS)) == len(EVENT_COLUMNS)
