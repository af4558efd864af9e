"""The event log as Auth0's Management API serves it: ``GET /api/v2/logs``,
``GET /api/v2/logs/{id}`` and ``GET /api/v2/users/{id}/logs``.

Parameters come in as a query string gives them (name and text pairs) and are checked
here; each refusal is an :class:`~passgate.domain.log_query.InvalidLogRequest` naming the
parameter. Events go out as Auth0's log objects: ``date`` in ISO 8601 with milliseconds
and ``Z``, the fields an event has (none is ``null``), ``details`` an object.

Where Auth0 is loose, passgate answers plainly (ours):

- ``q`` and ``search`` are one parameter under two names (give one, or both alike).
- Checkpoint paging (``from`` + ``take``) reads the events written after ``from`` (a
  ``log_id``; empty: from the oldest), oldest first; ``q`` narrows it (Auth0 ignores it
  there). ``page``, ``per_page``, ``sort`` and ``include_totals`` do not apply to it and are
  refused with it, as is ``take`` without ``from``.
- ``include_totals`` gives the number of matching events in ``total``, counted up to
  :data:`MAX_TOTAL` (Auth0's search engine v3 gives the page's length; Elasticsearch, which
  it runs on, also stops counting at 10,000): counting reads every match, and Auth0's
  SDKs ask for totals on every page. Pages go on past Auth0's 1,000 results.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from passgate.domain.events import Event, log_date
from passgate.domain.log_query import (
    ABSENT_FIELDS,
    SEARCHABLE_FIELDS,
    STORED_FIELDS,
    InvalidLogRequest,
    Node,
    QuerySyntaxError,
    Sort,
    Term,
)
from passgate.domain.log_query_parser import parse_query
from passgate.storage.event_search import EventSearch
from passgate.storage.limits import max_length
from passgate.storage.schema import events

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "MAX_TAKE",
    "MAX_TOTAL",
    "OUTPUT_FIELDS",
    "LogListing",
    "LogService",
    "log_json",
    "parse_search",
    "read_listing",
]

Params = Iterable[tuple[str, str]]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
DEFAULT_TAKE = 50
MAX_TAKE = 100
#: ``total`` counts matches up to this many: a total of 10,000 means "at least".
MAX_TOTAL = 10_000
#: Page numbers have at most this many digits (pages go on; offsets stay integers).
_PAGE_DIGITS = 9
MAX_PAGE = 10**_PAGE_DIGITS - 1

#: The fields ``fields`` may name: Auth0's, and those passgate adds.
OUTPUT_FIELDS = (*STORED_FIELDS, "details", *ABSENT_FIELDS)
#: ``GET /api/v2/logs``'s parameters; ``GET /api/v2/users/{id}/logs`` takes the second set.
LIST_PARAMETERS = frozenset(
    {"q", "search", "page", "per_page", "sort", "fields", "include_fields", "include_totals"}
    | {"from", "take"}
)
USER_LOG_PARAMETERS = frozenset({"page", "per_page", "sort", "include_totals"})
_NOT_WITH_FROM = ("page", "per_page", "sort", "include_totals")

_EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(Event))
_INTEGER = re.compile(r"[0-9]+")
_SORT = re.compile(r"(?P<field>[^:]*):(?P<order>1|-1)")
_SHOWN = 40


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def _plain(name: str, value: str) -> str:
    """``value`` when a database can take it: no NUL, nothing that is not Unicode text."""
    if "\x00" in value:
        raise InvalidLogRequest(name, f"{name} must not hold a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidLogRequest(name, f"{name} is not valid UTF-8 text") from None
    return value


def _integer(name: str, text: str, high: int) -> int:
    if not _INTEGER.fullmatch(text):
        raise InvalidLogRequest(name, f"{name} must be a whole number from 0, not {_shown(text)}")
    if len(text.lstrip("0")) > len(str(high)) or int(text) > high:
        raise InvalidLogRequest(name, f"{name} must be at most {high}")
    return int(text)


def _boolean(name: str, text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise InvalidLogRequest(name, f"{name} must be true or false, not {_shown(text)}")
    return text.lower() == "true"


def _sort(text: str) -> Sort:
    found = _SORT.fullmatch(text)
    if found is None:
        raise InvalidLogRequest(
            "sort", f"sort must be a field, ':' and 1 or -1 (as date:-1), not {_shown(text)}"
        )
    field = found["field"]
    if field == "details":
        raise InvalidLogRequest("sort", "sort: details has no order")
    if field not in SEARCHABLE_FIELDS:
        raise InvalidLogRequest(
            "sort", f"sort: unknown field {_shown(field)} ({', '.join(SEARCHABLE_FIELDS)})"
        )
    return Sort(field, descending=found["order"] == "-1")


def _fields(text: str) -> frozenset[str] | None:
    if not text:
        return None
    names = text.split(",")
    unknown = [name for name in names if name not in OUTPUT_FIELDS]
    if unknown:
        raise InvalidLogRequest(
            "fields",
            f"fields: unknown field {_shown(unknown[0])} (a comma-separated list of "
            f"{', '.join(OUTPUT_FIELDS)})",
        )
    return frozenset(names)


def parse_search(text: str, parameter: str = "q") -> Node | None:
    """The tree of a log search (None when it is blank); a bad one is refused naming
    ``parameter`` and where the query goes wrong."""
    try:
        return parse_query(_plain(parameter, text))
    except QuerySyntaxError as exc:
        raise InvalidLogRequest(parameter, f"{parameter}: {exc}") from None


def _collect(params: Params, allowed: frozenset[str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for name, value in params:
        if name not in allowed:
            raise InvalidLogRequest(
                name, f"unknown parameter {_shown(name)} (known: {', '.join(sorted(allowed))})"
            )
        if name in given:
            raise InvalidLogRequest(name, f"{name} is given more than once")
        given[name] = _plain(name, value)
    return given


def _query(given: dict[str, str]) -> Node | None:
    if "q" in given and "search" in given and given["q"] != given["search"]:
        raise InvalidLogRequest("search", "give q or search (another name for q), not both")
    name = "q" if "q" in given else "search"
    return parse_search(given.get(name, ""), name)


@dataclasses.dataclass(frozen=True, slots=True)
class LogListing:
    """One request for a list of events, checked.

    ``checkpoint`` is None for a search by page; else the ``log_id`` to read on from
    (empty: from the oldest event), ``take`` events at most."""

    where: Node | None = None
    sort: Sort = dataclasses.field(default_factory=Sort)
    page: int = 0
    per_page: int = DEFAULT_PER_PAGE
    include_totals: bool = False
    fields: frozenset[str] | None = None
    include_fields: bool = True
    checkpoint: str | None = None
    take: int = DEFAULT_TAKE


def read_listing(params: Params, *, allowed: frozenset[str] = LIST_PARAMETERS) -> LogListing:
    """The listing ``params`` (a query string's pairs) ask for; raises
    :class:`InvalidLogRequest` for an unknown, repeated or bad parameter."""
    given = _collect(params, allowed)
    if "from" in given:
        clashing = [name for name in _NOT_WITH_FROM if name in given]
        if clashing:
            raise InvalidLogRequest(
                clashing[0],
                f"{clashing[0]} does not apply to checkpoint paging (from and take); "
                "page through a search with page and per_page instead",
            )
    elif "take" in given:
        raise InvalidLogRequest(
            "take", "take is for checkpoint paging: give it with from (empty: from the oldest)"
        )
    return LogListing(
        where=_query(given),
        sort=_sort(given["sort"]) if "sort" in given else Sort(),
        page=_integer("page", given["page"], MAX_PAGE) if "page" in given else 0,
        per_page=_integer("per_page", given.get("per_page", str(DEFAULT_PER_PAGE)), MAX_PER_PAGE),
        include_totals=_boolean("include_totals", given.get("include_totals", "false")),
        fields=_fields(given.get("fields", "")),
        include_fields=_boolean("include_fields", given.get("include_fields", "true")),
        checkpoint=given.get("from"),
        take=_integer("take", given.get("take", str(DEFAULT_TAKE)), MAX_TAKE),
    )


def log_json(
    event: Event, fields: frozenset[str] | None = None, include: bool = True
) -> dict[str, Any]:
    """``event`` as Auth0's log object: only the fields it has, and of those only
    ``fields`` (or all but ``fields`` when not ``include``)."""
    document: dict[str, Any] = {}
    for name in _EVENT_FIELDS:  # not Event.to_json: its deep copy costs more than the search
        value = getattr(event, name)
        if value is not None and (fields is None or (name in fields) == include):
            document[name] = value
    if "date" in document:
        document["date"] = log_date(event.date)
    if "details" in document:
        document["details"] = dict(event.details)
    return document


class LogService:
    """The event log's read operations, for the HTTP routes and the CLI. Every method
    reads the database: call it off the event loop."""

    def __init__(self, *, search: EventSearch) -> None:
        self._search = search

    def list_logs(self, params: Params) -> list[dict[str, Any]] | dict[str, Any]:
        """``GET /api/v2/logs``: a list of log objects, or with ``include_totals`` the
        object ``{start, limit, length, total, logs}``."""
        return self._answer(read_listing(params))

    def list_user_logs(self, user_id: str, params: Params) -> list[dict[str, Any]] | dict[str, Any]:
        """``GET /api/v2/users/{id}/logs``: the user's events (whether or not the user
        still exists), with ``page``, ``per_page``, ``sort`` and ``include_totals``."""
        listing = read_listing(params, allowed=USER_LOG_PARAMETERS)
        where = Term("user_id", _plain("user_id", user_id))
        return self._answer(dataclasses.replace(listing, where=where))

    def get_log(self, log_id: str) -> dict[str, Any] | None:
        """``GET /api/v2/logs/{id}``: the log object, or None when there is none."""
        event = self._search.get(log_id) if _storable_log_id(log_id) else None
        return None if event is None else log_json(event)

    def _answer(self, listing: LogListing) -> list[dict[str, Any]] | dict[str, Any]:
        if listing.checkpoint is not None:
            found = self._from_checkpoint(listing)
            return [log_json(e, listing.fields, listing.include_fields) for e in found]
        start = listing.page * listing.per_page
        found = self._search.page(
            listing.where, sort=listing.sort, offset=start, limit=listing.per_page
        )
        logs = [log_json(e, listing.fields, listing.include_fields) for e in found]
        if not listing.include_totals:
            return logs
        total = self._search.count(listing.where, up_to=MAX_TOTAL)
        return {
            "start": start,
            "limit": listing.per_page,
            "length": len(logs),
            "total": total,
            "logs": logs,
        }

    def _from_checkpoint(self, listing: LogListing) -> list[Event]:
        checkpoint = listing.checkpoint or ""
        position = 0
        if checkpoint:
            found = self._search.position(checkpoint) if _storable_log_id(checkpoint) else None
            if found is None:
                raise InvalidLogRequest(
                    "from", f"from: no event has the log_id {_shown(checkpoint)}"
                )
            position = found
        return self._search.after(position, listing.where, limit=listing.take)[0]

    # -- for ``passgate logs`` ---------------------------------------------------------

    def newest(self, where: Node | None, limit: int) -> list[Event]:
        """The newest ``limit`` events ``where`` matches, newest first."""
        return self._search.page(where, sort=Sort(), offset=0, limit=limit)

    def end(self) -> int:
        """The position of the newest event: :meth:`after` it comes what is written next."""
        return self._search.end()

    def after(self, position: int, where: Node | None, limit: int) -> tuple[list[Event], int]:
        """The events ``where`` matches written after ``position``, oldest first, at most
        ``limit``; and the position to read on from."""
        return self._search.after(position, where, limit=limit)


def _storable_log_id(log_id: str) -> bool:
    """Whether an event could have ``log_id`` (else there is no need to look)."""
    limit = max_length(events.c.log_id) or 0
    return 0 < len(log_id) <= limit and "\x00" not in log_id and log_id.isprintable()
