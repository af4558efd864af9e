"""``/api/v2/connections``: database connections and their password policies, through
``management.connections`` (as ``passgate connections``).

Only strategy ``auth0`` (a database connection) exists: creating any other is a 400.
``options`` are checked with Auth0's limits (``domain.connection_options``); keys passgate
does not act on are kept and shown back. A PATCH's ``options`` replace the whole object,
as in Auth0.
"""

from __future__ import annotations

from typing import Any

from passgate.domain.connection_options import (
    MAX_DICTIONARY_WORDS,
    MAX_HISTORY_SIZE,
    MAX_MIN_LENGTH,
)
from passgate.domain.password_policy import LEVELS
from passgate.management.connections import (
    MAX_NAME,
    ConnectionChange,
    ConnectionQuery,
    ConnectionsService,
    NewConnection,
    connection_json,
)
from passgate.management.errors import InvalidUri
from passgate.management.listing import MAX_PAGE, MAX_PER_PAGE
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["connections_operations"]

TAG = "connections"
NO_CONNECTION = "No connection has this id."
_MAX_ID = 40

_ENABLE = {"enable": {"type": "boolean"}}
_OPTIONS: dict[str, Any] = {
    "type": "object",
    "description": "Auth0's database connection options; other keys are kept as sent.",
    "properties": {
        "passwordPolicy": {"type": ["string", "null"], "enum": [*LEVELS, None]},
        "password_complexity_options": {
            "type": "object",
            "properties": {
                "min_length": {"type": "integer", "minimum": 1, "maximum": MAX_MIN_LENGTH}
            },
        },
        "password_history": {
            "type": "object",
            "properties": {
                **_ENABLE,
                "size": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_SIZE},
            },
        },
        "password_dictionary": {
            "type": "object",
            "properties": {
                **_ENABLE,
                "dictionary": {
                    "type": "array",
                    "maxItems": MAX_DICTIONARY_WORDS,
                    "items": {"type": "string", "minLength": 1, "maxLength": 50},
                },
            },
        },
        "password_no_personal_info": {"type": "object", "properties": _ENABLE},
        "disable_signup": {"type": "boolean"},
        "requires_username": {"type": "boolean"},
        "brute_force_protection": {"type": "boolean"},
        "validation": {"type": ["object", "null"]},
    },
}
_SETTINGS: dict[str, Any] = {
    "display_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "options": _OPTIONS,
    "enabled_clients": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "realms": {"type": "array", "items": {"type": "string"}},
    "is_domain_connection": {"type": "boolean", "const": False},
}
_CONNECTION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "strategy": {"type": "string"},
        **_SETTINGS,
    },
}
_LIST: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "required": ["connections"],
            "properties": {
                "connections": {"type": "array", "items": _CONNECTION},
                "next": {"type": "string"},
            },
        },
        {"type": "array", "items": _CONNECTION},
        {
            "type": "object",
            "required": ["start", "limit", "total", "connections"],
            "properties": {
                "start": {"type": "integer"},
                "limit": {"type": "integer"},
                "total": {"type": "integer"},
                "connections": {"type": "array", "items": _CONNECTION},
            },
        },
    ]
}
_NEW_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "strategy"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "strategy": {"type": "string", "enum": ["auth0"]},
        **_SETTINGS,
    },
}
_CHANGE_BODY = {"type": "object", "additionalProperties": False, "properties": _SETTINGS}
_ID = PathParam(
    "id", "The connection's id.", {"type": "string", "minLength": 1, "maxLength": _MAX_ID}
)
_FIELDS = (
    QueryParam(
        "fields",
        "Comma-separated field names to include (or exclude, with include_fields=false).",
        min_length=1,
        max_length=1000,
    ),
    QueryParam(
        "include_fields", "Whether fields lists the fields shown (default true).", "boolean"
    ),
)
_LISTING = (
    QueryParam("page", "Page index, from 0.", "integer", minimum=0, maximum=MAX_PAGE),
    QueryParam(
        "per_page",
        "Connections per page (default 50).",
        "integer",
        minimum=1,
        maximum=MAX_PER_PAGE,
    ),
    QueryParam(
        "include_totals",
        "Answer {start, limit, total, connections} instead of a bare array.",
        "boolean",
    ),
    QueryParam("strategy", "Only these strategies (comma-separated).", max_length=200),
    QueryParam("name", "Only the connection with this name.", min_length=1, max_length=MAX_NAME),
    QueryParam(
        "from",
        "Checkpoint paging: the id to start from (a page's next).",
        min_length=1,
        max_length=_MAX_ID,
    ),
    QueryParam(
        "take",
        "Checkpoint paging: connections per page (default 50).",
        "integer",
        minimum=1,
        maximum=MAX_PER_PAGE,
    ),
)


def _id(call: Call) -> str:
    connection_id = call.path["id"]
    if len(connection_id) > _MAX_ID:
        raise InvalidUri(
            f"Path validation error: 'String is too long ({len(connection_id)} chars), "
            f"maximum {_MAX_ID}' on property id."
        )
    return connection_id


def connections_operations(service: ConnectionsService) -> list[Operation]:
    """List, create, read, change and delete database connections."""

    def listed(call: Call) -> Reply:
        return Reply(service.page(ConnectionQuery.from_query(call.query)))

    def create(call: Call) -> Reply:
        created = service.create(NewConnection.from_body(call.body))
        shown = connection_json(created)
        return Reply(shown, status=201, changes=shown)

    def read(call: Call) -> Reply:
        fields = ConnectionQuery.from_query(call.query).fields
        return Reply(fields.apply(connection_json(service.get(_id(call)))))

    def update(call: Call) -> Reply:
        change = ConnectionChange.from_body(call.body)
        updated = service.update(_id(call), change)
        return Reply(connection_json(updated), changes={"id": updated.id, **change.changes()})

    def delete(call: Call) -> Reply:
        deleted = service.delete(_id(call))
        return Reply(status=204, changes={"id": deleted.id, "name": deleted.name, "deleted": True})

    return [
        Operation(
            method="GET",
            path="/connections",
            scopes=("read:connections",),
            summary="Get connections",
            description="Database connections (strategy auth0), by name.",
            operation_id="get_connections",
            tag=TAG,
            handler=listed,
            answer=Answer(200, "The connections.", _LIST),
            query=(*_FIELDS, *_LISTING),
        ),
        Operation(
            method="POST",
            path="/connections",
            scopes=("create:connections",),
            summary="Create a connection",
            description="Strategy auth0 only. Without enabled_clients no client may use it "
            "(as in Auth0); without passwordPolicy the policy is none.",
            operation_id="post_connections",
            tag=TAG,
            handler=create,
            answer=Answer(201, "The connection.", _CONNECTION),
            body=_NEW_BODY,
            conflict="A connection with this name exists.",
        ),
        Operation(
            method="GET",
            path="/connections/{id}",
            scopes=("read:connections",),
            summary="Get a connection",
            operation_id="get_connections_by_id",
            tag=TAG,
            handler=read,
            answer=Answer(200, "The connection.", _CONNECTION),
            path_params=(_ID,),
            query=_FIELDS,
            not_found=NO_CONNECTION,
        ),
        Operation(
            method="PATCH",
            path="/connections/{id}",
            scopes=("update:connections",),
            summary="Update a connection",
            description="options, when given, replace the whole options object (as in "
            "Auth0). Running servers apply the change at once (other processes within 5 s).",
            operation_id="patch_connections_by_id",
            tag=TAG,
            handler=update,
            answer=Answer(200, "The connection after the change.", _CONNECTION),
            path_params=(_ID,),
            body=_CHANGE_BODY,
            not_found=NO_CONNECTION,
        ),
        Operation(
            method="DELETE",
            path="/connections/{id}",
            scopes=("delete:connections",),
            summary="Delete a connection",
            description="Refused (409) while it holds users or is the default directory.",
            operation_id="delete_connections_by_id",
            tag=TAG,
            handler=delete,
            answer=Answer(204, "The connection is deleted."),
            path_params=(_ID,),
            not_found=NO_CONNECTION,
            conflict="The connection holds users, or is the default directory.",
        ),
    ]
