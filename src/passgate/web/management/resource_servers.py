"""``/api/v2/resource-servers``: APIs, through ``management.resource_servers`` (as
``passgate apis``). ``{id}`` is an API's id or its identifier (percent-encoded, slashes
and all), as Auth0 takes it."""

from __future__ import annotations

from typing import Any

from starlette.convertors import Convertor, register_url_convertor

from passgate.management.listing import MAX_PAGE, MAX_PER_PAGE, Paging
from passgate.management.resource_servers import (
    MAX_IDENTIFIER,
    MAX_NAME,
    MAX_SCOPE_DESCRIPTION,
    NewResourceServer,
    ResourceServerChange,
    ResourceServersService,
    resource_server_json,
)
from passgate.storage.applications import MAX_SCOPE, SIGNING_ALGS, TOKEN_LIFETIME_RANGE
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["resource_servers_operations"]

TAG = "resource-servers"
NO_API = "No resource server has this id or identifier."

_SCOPES: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["value"],
        "properties": {
            "value": {"type": "string", "minLength": 1, "maxLength": MAX_SCOPE},
            "description": {
                "type": "string",
                "maxLength": MAX_SCOPE_DESCRIPTION,
                "description": "Accepted, not kept.",
            },
        },
    },
}
_SETTINGS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "scopes": _SCOPES,
    "signing_alg": {"type": "string", "enum": list(SIGNING_ALGS)},
    "token_lifetime": {
        "type": "integer",
        "minimum": TOKEN_LIFETIME_RANGE[0],
        "maximum": TOKEN_LIFETIME_RANGE[1],
    },
    "allow_offline_access": {"type": "boolean"},
}
_API: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "identifier", "is_system", "scopes"],
    "properties": {
        "id": {"type": "string"},
        "identifier": {"type": "string"},
        "is_system": {"type": "boolean"},
        **_SETTINGS,
    },
}
_LIST: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": _API},
        {
            "type": "object",
            "required": ["start", "limit", "total", "resource_servers"],
            "properties": {
                "start": {"type": "integer"},
                "limit": {"type": "integer"},
                "total": {"type": "integer"},
                "resource_servers": {"type": "array", "items": _API},
            },
        },
    ]
}
_NEW_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["identifier"],
    "properties": {
        "identifier": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDENTIFIER,
            "description": "The audience: an absolute URL.",
        },
        **_SETTINGS,
    },
}
_CHANGE_BODY = {"type": "object", "additionalProperties": False, "properties": _SETTINGS}
_ID = PathParam(
    "id",
    "The resource server's id or identifier.",
    {"type": "string", "minLength": 1, "maxLength": MAX_IDENTIFIER},
)
_INCLUDE_FIELDS = QueryParam(
    "include_fields", "Accepted for Auth0's SDKs; every field is shown.", "boolean"
)
_PAGING = (
    QueryParam("page", "Page index, from 0.", "integer", minimum=0, maximum=MAX_PAGE),
    QueryParam(
        "per_page", "APIs per page (default 50).", "integer", minimum=1, maximum=MAX_PER_PAGE
    ),
    QueryParam(
        "include_totals",
        "Answer {start, limit, total, resource_servers} instead of a bare array.",
        "boolean",
    ),
)


class _Identifier(Convertor[str]):
    """A path parameter that takes an identifier's slashes too; neither empty nor starting
    with a slash (no id or absolute URL does), so ``/resource-servers/`` and
    ``/resource-servers//`` name nothing (404) rather than an API called "" or "/"."""

    regex = "[^/][\\s\\S]*"  # any character after the first, line breaks too

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("identifier", _Identifier())
_BY_ID = "/resource-servers/{id:identifier}"


def resource_servers_operations(service: ResourceServersService) -> list[Operation]:
    """List, create, read, change and delete APIs."""

    def listed(call: Call) -> Reply:
        return Reply(service.page(Paging.from_query(call.query)))

    def create(call: Call) -> Reply:
        api = service.create(NewResourceServer.from_body(call.body))
        shown = resource_server_json(api)
        return Reply(shown, status=201, changes=shown)

    def read(call: Call) -> Reply:
        return Reply(resource_server_json(service.get(call.path["id"])))

    def update(call: Call) -> Reply:
        change = ResourceServerChange.from_body(call.body)
        api = service.update(call.path["id"], change)
        return Reply(resource_server_json(api), changes={"id": api.id, **change.changes()})

    def delete(call: Call) -> Reply:
        api = service.delete(call.path["id"])
        changes = {"id": api.id, "identifier": api.identifier, "deleted": True}
        return Reply(status=204, changes=changes)

    return [
        Operation(
            method="GET",
            path="/resource-servers",
            scopes=("read:resource_servers",),
            summary="Get resource servers",
            description="APIs in creation order, the Management API (is_system) among them.",
            operation_id="get_resource-servers",
            tag=TAG,
            handler=listed,
            answer=Answer(200, "The resource servers.", _LIST),
            query=(*_PAGING, _INCLUDE_FIELDS),
        ),
        Operation(
            method="POST",
            path="/resource-servers",
            scopes=("create:resource_servers",),
            summary="Create a resource server",
            description="409 when another resource server has the identifier.",
            operation_id="post_resource-servers",
            tag=TAG,
            handler=create,
            answer=Answer(201, "The resource server.", _API),
            body=_NEW_BODY,
        ),
        Operation(
            method="GET",
            path=_BY_ID,
            scopes=("read:resource_servers",),
            summary="Get a resource server",
            operation_id="get_resource-servers_by_id",
            tag=TAG,
            handler=read,
            answer=Answer(200, "The resource server.", _API),
            path_params=(_ID,),
            query=(_INCLUDE_FIELDS,),
            not_found=NO_API,
        ),
        Operation(
            method="PATCH",
            path=_BY_ID,
            scopes=("update:resource_servers",),
            summary="Update a resource server",
            description="The system resource server (the Management API) takes a new "
            "token_lifetime only. Running servers see the change on their next request "
            "(other processes within 2 s).",
            operation_id="patch_resource-servers_by_id",
            tag=TAG,
            handler=update,
            answer=Answer(200, "The resource server after the change.", _API),
            path_params=(_ID,),
            body=_CHANGE_BODY,
            not_found=NO_API,
        ),
        Operation(
            method="DELETE",
            path=_BY_ID,
            scopes=("delete:resource_servers",),
            summary="Delete a resource server",
            description="Its client grants go with it. The system resource server (the "
            "Management API) is never deleted (400 operation_not_supported).",
            operation_id="delete_resource-servers_by_id",
            tag=TAG,
            handler=delete,
            answer=Answer(204, "The resource server is deleted."),
            path_params=(_ID,),
            not_found=NO_API,
        ),
    ]
