"""``/api/v2/client-grants``: which client may get client-credentials tokens for which
API, through ``management.client_grants`` (as ``passgate client-grants``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passgate.management.client_grants import (
    MAX_PER_PAGE,
    ClientGrantChange,
    ClientGrantQuery,
    ClientGrantsService,
    NewClientGrant,
)
from passgate.management.listing import MAX_PAGE
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["client_grants_operations"]

TAG = "client-grants"
NO_GRANT = "No client grant has this id."

_SCOPE = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
_GRANT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "client_id", "audience", "scope"],
    "properties": {
        "id": {"type": "string"},
        "client_id": {"type": "string"},
        "audience": {"type": "string"},
        "scope": _SCOPE,
        "is_system": {"type": "boolean"},
        "subject_type": {"type": "string", "enum": ["client"]},
    },
}
_LIST: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": _GRANT},
        {
            "type": "object",
            "required": ["start", "limit", "total", "client_grants"],
            "properties": {
                "start": {"type": "integer"},
                "limit": {"type": "integer"},
                "total": {"type": "integer"},
                "client_grants": {"type": "array", "items": _GRANT},
            },
        },
        {
            "type": "object",
            "required": ["client_grants"],
            "properties": {
                "client_grants": {"type": "array", "items": _GRANT},
                "next": {"type": "string", "description": "The from of the next page."},
            },
        },
    ]
}
_NEW_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["client_id", "audience", "scope"],
    "properties": {
        "client_id": {"type": "string", "minLength": 1},
        "audience": {"type": "string", "minLength": 1},
        "scope": _SCOPE,
        "subject_type": {"type": "string", "enum": ["client"]},
    },
}
_CHANGE_BODY = {"type": "object", "additionalProperties": False, "properties": {"scope": _SCOPE}}
_ID = PathParam("id", "The client grant's id.", {"type": "string", "minLength": 1})
_QUERY = (
    QueryParam("audience", "Only the grants for this API (its identifier).", min_length=1),
    QueryParam("client_id", "Only this client's grants.", min_length=1),
    QueryParam("page", "Page index, from 0.", "integer", minimum=0, maximum=MAX_PAGE),
    QueryParam(
        "per_page", "Grants per page (default 50).", "integer", minimum=1, maximum=MAX_PER_PAGE
    ),
    QueryParam(
        "include_totals",
        "Answer {start, limit, total, client_grants} instead of a bare array.",
        "boolean",
    ),
    QueryParam(
        "from", "Checkpoint paging: the id to start from (a page's next).", min_length=1
    ),
    QueryParam(
        "take", "Checkpoint paging: grants per page (default 50).", "integer", minimum=1,
        maximum=MAX_PER_PAGE,
    ),
)  # fmt: skip


def _pairs(query: Mapping[str, str | bool | int]) -> list[tuple[str, str]]:
    """The typed query back as the query string's pairs, which the service reads."""
    return [
        (name, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for name, value in query.items()
    ]


def client_grants_operations(service: ClientGrantsService) -> list[Operation]:
    """List, create, read, change and delete client grants."""

    def listed(call: Call) -> Reply:
        return Reply(service.list_grants(ClientGrantQuery.from_query(_pairs(call.query))))

    def create(call: Call) -> Reply:
        grant = service.create(NewClientGrant.from_body(call.body))
        return Reply(grant, status=201, changes=grant)

    def read(call: Call) -> Reply:
        return Reply(service.get(call.path["id"]))

    def update(call: Call) -> Reply:
        change = ClientGrantChange.from_body(call.body)
        grant = service.update(call.path["id"], change)
        return Reply(grant, changes={"id": grant["id"], "scope": grant["scope"]})

    def delete(call: Call) -> Reply:
        grant = service.get(call.path["id"])
        service.delete(grant["id"])
        return Reply(status=204, changes={**grant, "deleted": True})

    return [
        Operation(
            method="GET",
            path="/client-grants",
            scopes=("read:client_grants",),
            summary="Get client grants",
            description="Grants in creation order: offset paging (page, per_page, "
            "include_totals) or checkpoint paging (from, take), not both.",
            operation_id="get_client-grants",
            tag=TAG,
            handler=listed,
            answer=Answer(200, "The client grants.", _LIST),
            query=_QUERY,
        ),
        Operation(
            method="POST",
            path="/client-grants",
            scopes=("create:client_grants",),
            summary="Create a client grant",
            description="404 when the client or the API does not exist, 409 when the client "
            "has a grant for the API already; every scope must be one the API defines.",
            operation_id="post_client-grants",
            tag=TAG,
            handler=create,
            answer=Answer(201, "The client grant.", _GRANT),
            body=_NEW_BODY,
            not_found="No client has this client_id, or no API this audience.",
        ),
        Operation(
            method="GET",
            path="/client-grants/{id}",
            scopes=("read:client_grants",),
            summary="Get a client grant",
            operation_id="get_client-grants_by_id",
            tag=TAG,
            handler=read,
            answer=Answer(200, "The client grant.", _GRANT),
            path_params=(_ID,),
            not_found=NO_GRANT,
        ),
        Operation(
            method="PATCH",
            path="/client-grants/{id}",
            scopes=("update:client_grants",),
            summary="Update a client grant",
            operation_id="patch_client-grants_by_id",
            tag=TAG,
            handler=update,
            answer=Answer(200, "The client grant after the change.", _GRANT),
            path_params=(_ID,),
            body=_CHANGE_BODY,
            not_found=NO_GRANT,
        ),
        Operation(
            method="DELETE",
            path="/client-grants/{id}",
            scopes=("delete:client_grants",),
            summary="Delete a client grant",
            description="Its client gets no new token for the API; tokens already issued "
            "stay valid until they expire.",
            operation_id="delete_client-grants_by_id",
            tag=TAG,
            handler=delete,
            answer=Answer(204, "The client grant is deleted."),
            path_params=(_ID,),
            not_found=NO_GRANT,
        ),
    ]
