"""What a log stream sends: each event as Auth0's streams do, ``{"log_id", "data"}`` with
``data`` the log object of ``GET /api/v2/logs/{id}``, in one of three formats.

- ``JSONLINES``: one request per batch, one JSON object a line (each line ends in ``\\n``);
- ``JSONARRAY``: one request per batch, a JSON array of the objects;
- ``JSONOBJECT``: one request per event, the object alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from passgate.domain.events import EVENT_COLUMNS, log_date

__all__ = ["StreamItem", "bodies", "item_of"]

_TEXT_FIELDS = tuple(name for name in EVENT_COLUMNS if name != "date")


class StreamItem:
    """One event as sent: its position in the log, its id, and its encoded JSON object."""

    __slots__ = ("encoded", "log_id", "seq", "type")

    def __init__(self, seq: int, log_id: str, type: str, encoded: bytes) -> None:
        self.seq = seq
        self.log_id = log_id
        self.type = type
        self.encoded = encoded


def item_of(row: Any) -> StreamItem:
    """The item for a row of the ``events`` table: only the fields the event has."""
    data: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(row, name)
        if value is not None:
            data[name] = value
    data["date"] = log_date(row.date)
    data["details"] = orjson.loads(row.details)
    encoded = orjson.dumps({"log_id": row.log_id, "data": data})
    return StreamItem(row.seq, row.log_id, row.type, encoded)


def bodies(content_format: str, items: Sequence[StreamItem]) -> Iterator[tuple[bytes, int]]:
    """The request bodies for ``items`` in ``content_format``, each with the index of the
    last item it carries (so a sender knows how far a successful request got)."""
    if not items:
        return
    if content_format == "JSONOBJECT":
        for index, item in enumerate(items):
            yield item.encoded, index
    elif content_format == "JSONARRAY":
        yield b"[" + b",".join(item.encoded for item in items) + b"]", len(items) - 1
    else:
        yield b"".join(item.encoded + b"\n" for item in items), len(items) - 1
