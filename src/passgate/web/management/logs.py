"""``GET /api/v2/logs``, ``/logs/{id}`` and ``/users/{id}/logs``: the event log, searched
through ``management.logs`` (as ``passgate logs --q``).

The log service checks its parameters itself (Auth0's query language, paging, checkpoint
paging, fields): they are declared here as strings so that every refusal, with the
parameter it names, comes from one place.
"""

from __future__ import annotations

import re
from typing import Any

from passgate.domain.log_query import SEARCHABLE_FIELDS, InvalidLogRequest
from passgate.management.errors import InvalidQuery, NotFound
from passgate.management.logs import MAX_PAGE, MAX_PER_PAGE, MAX_TAKE, OUTPUT_FIELDS, LogService
from passgate.web.management.operations import (
    Answer,
    Call,
    Operation,
    PathParam,
    QueryParam,
    Reply,
)

__all__ = ["logs_operations"]

READ_LOGS = ("read:logs",)
READ_USER_LOGS = ("read:logs", "read:logs_users")
NO_LOG = "The log event does not exist."
#: Longest ``q`` / ``search`` taken.
MAX_QUERY = 2000

_LOG_SCHEMA = {
    "type": "object",
    "properties": {
        "log_id": {"type": "string"},
        "date": {"type": "string", "format": "date-time"},
        "type": {"type": "string"},
        "ip": {"type": "string"},
        "client_ip": {"type": "string"},
        "client_id": {"type": "string"},
        "user_id": {"type": "string"},
        "details": {"type": "object"},
    },
}
_LIST_SCHEMA = {
    "anyOf": [
        {"type": "array", "items": _LOG_SCHEMA},
        {
            "type": "object",
            "required": ["start", "limit", "length", "total", "logs"],
            "properties": {
                "start": {"type": "integer"},
                "limit": {"type": "integer"},
                "length": {"type": "integer"},
                "total": {"type": "integer"},
                "logs": {"type": "array", "items": _LOG_SCHEMA},
            },
        },
    ]
}


def _text(
    name: str,
    description: str,
    max_length: int | None = None,
    documented: dict[str, Any] | None = None,
) -> QueryParam:
    """A parameter the log service reads (and refuses) itself; ``documented``: what the
    document says its values are."""
    return QueryParam(name, description, max_length=max_length, documented=documented)


def _integer(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


_BOOLEAN = {"type": "boolean"}
_SORT = {
    "type": "string",
    "enum": [f"{field}:{order}" for field in SEARCHABLE_FIELDS for order in ("1", "-1")],
}
_FIELD = "(?:" + "|".join(re.escape(field) for field in OUTPUT_FIELDS) + ")"
_FIELDS = {"type": "string", "pattern": f"^(?:{_FIELD}(?:,{_FIELD})*)?$"}
_PAGING = (
    _text("page", "Page index of the results, from 0.", documented=_integer(0, MAX_PAGE)),
    _text(
        "per_page",
        f"Results per page, at most {MAX_PER_PAGE} (50 by default).",
        documented=_integer(0, MAX_PER_PAGE),
    ),
    _text(
        "sort",
        "A field, ':' and 1 (ascending) or -1 (descending), as date:-1.",
        documented=_SORT,
    ),
    _text(
        "include_totals",
        "true: an object with start, limit, length, total and logs.",
        documented=_BOOLEAN,
    ),
)
_LIST_QUERY = (
    _text("q", 'A query in Auth0\'s log search syntax (type:fp AND ip:"192.0.2.1").', MAX_QUERY),
    _text("search", "Another name for q.", MAX_QUERY),
    *_PAGING,
    _text(
        "fields",
        "Comma-separated fields to include (or exclude, see include_fields).",
        documented=_FIELDS,
    ),
    _text("include_fields", "false: fields lists the fields to leave out.", documented=_BOOLEAN),
    _text("from", "Checkpoint paging: the log_id to read on from (empty: the oldest)."),
    _text(
        "take",
        f"Checkpoint paging: how many events, at most {MAX_TAKE}.",
        documented=_integer(0, MAX_TAKE),
    ),
)
_LOG_ID = PathParam("id", "The log_id of the event.", {"type": "string", "minLength": 1})
_USER_ID = PathParam("id", "The user_id whose events are listed.", {"type": "string"})


def _pairs(call: Call) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in call.query.items()]


def _refused(exc: InvalidLogRequest) -> InvalidQuery:
    return InvalidQuery(f"Query validation error: '{exc}' on property {exc.parameter}.")


def logs_operations(service: LogService) -> list[Operation]:
    """Search the event log, read one event, list a user's events."""

    def search(call: Call) -> Reply:
        try:
            return Reply(service.list_logs(_pairs(call)))
        except InvalidLogRequest as exc:
            raise _refused(exc) from None

    def one(call: Call) -> Reply:
        found = service.get_log(call.path["id"])
        if found is None:
            raise NotFound(NO_LOG, code="inexistent_log")
        return Reply(found)

    def of_user(call: Call) -> Reply:
        try:
            return Reply(service.list_user_logs(call.path["id"], _pairs(call)))
        except InvalidLogRequest as exc:
            raise _refused(exc) from None

    return [
        Operation(
            method="GET",
            path="/logs",
            scopes=READ_LOGS,
            summary="Search log events",
            operation_id="get_logs",
            tag="logs",
            handler=search,
            answer=Answer(200, "The events found, newest first by default.", _LIST_SCHEMA),
            query=_LIST_QUERY,
        ),
        Operation(
            method="GET",
            path="/logs/{id}",
            scopes=READ_LOGS,
            summary="Get a log event by id",
            operation_id="get_logs_by_id",
            tag="logs",
            handler=one,
            answer=Answer(200, "The event.", _LOG_SCHEMA),
            path_params=(_LOG_ID,),
            not_found=NO_LOG,
        ),
        Operation(
            method="GET",
            path="/users/{id}/logs",
            scopes=READ_USER_LOGS,
            summary="Get a user's log events",
            operation_id="get_logs_by_user",
            tag="users",
            handler=of_user,
            answer=Answer(200, "The user's events, newest first by default.", _LIST_SCHEMA),
            path_params=(_USER_ID,),
            query=_PAGING,
        ),
    ]
