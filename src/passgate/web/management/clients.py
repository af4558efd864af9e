"""``/api/v2/clients``: applications, through ``management.clients`` (as ``passgate
clients``).

``client_secret`` is in two answers only: the one that made the client (``POST
/clients``) and the one that replaced it (``POST /clients/{id}/rotate-secret``). passgate
keeps a secret's digest, never the secret: a ``GET`` shows none, also with
``read:client_keys`` (which Auth0 needs to show it, and which admits the reads here like
``read:clients``). A ``PATCH`` that makes a public client confidential gives it a secret
nobody knows: rotate it to get one. No audit event holds a secret.
"""

from __future__ import annotations

from typing import Any

from passgate.domain.models import APP_TYPES, AUTH_METHODS, GRANT_TYPES
from passgate.management.client_profile import (
    MAX_DESCRIPTION,
    MAX_METADATA_KEYS,
    MAX_URL,
    MAX_URLS,
    URL_LISTS,
)
from passgate.management.clients import (
    FIXED,
    MAX_CLIENT_ID,
    MAX_NAME,
    ClientChange,
    ClientQuery,
    ClientsService,
    NewClient,
    client_json,
)
from passgate.management.errors import InvalidUri
from passgate.management.listing import MAX_PAGE, MAX_PER_PAGE
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["clients_operations"]

READ = ("read:clients", "read:client_keys")
TAG = "clients"
NO_CLIENT = "No client has this client_id."

_URL = r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s\u0000-\u001f\u007f]+$"
_NO_NUL = r"^[^\u0000]*$"
_SETTINGS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "app_type": {"type": "string", "enum": list(APP_TYPES)},
    "token_endpoint_auth_method": {"type": "string", "enum": list(AUTH_METHODS)},
    "grant_types": {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "enum": list(GRANT_TYPES)},
    },
    "is_token_endpoint_ip_header_trusted": {
        "type": "boolean",
        "description": "Believe the client's auth0-forwarded-for header (confidential "
        "clients only).",
    },
    **{name: {"type": "boolean", "const": value} for name, value in FIXED.items()},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "logo_uri": {"type": "string", "maxLength": MAX_URL, "description": 'Absolute URL or "".'},
    **{
        name: {
            "type": "array",
            "maxItems": MAX_URLS,
            "items": {"type": "string", "maxLength": MAX_URL, "pattern": _URL},
            "description": "Stored and shown; passgate has no redirect-based flow using them.",
        }
        for name in URL_LISTS
    },
    "client_metadata": {
        "type": "object",
        "maxProperties": MAX_METADATA_KEYS,
        "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,255}$"},
        "additionalProperties": {"type": "string", "maxLength": 255, "pattern": _NO_NUL},
    },
}
#: No member is required: ``fields`` chooses which are answered.
_CLIENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "client_id": {"type": "string"},
        **_SETTINGS,
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_WITH_SECRET: dict[str, Any] = {
    **_CLIENT,
    "properties": {
        **_CLIENT["properties"],
        "client_secret": {"type": "string", "description": "Shown in this answer only."},
    },
}
_LIST: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": _CLIENT},
        {
            "type": "object",
            "required": ["start", "limit", "total", "clients"],
            "properties": {
                "start": {"type": "integer"},
                "limit": {"type": "integer"},
                "total": {"type": "integer"},
                "clients": {"type": "array", "items": _CLIENT},
            },
        },
    ]
}
_NEW_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": _SETTINGS,
}
_CHANGE_BODY = {"type": "object", "additionalProperties": False, "properties": _SETTINGS}

_ID = PathParam(
    "id", "The client_id.", {"type": "string", "minLength": 1, "maxLength": MAX_CLIENT_ID}
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
_PAGING = (
    QueryParam("page", "Page index, from 0.", "integer", minimum=0, maximum=MAX_PAGE),
    QueryParam(
        "per_page", "Clients per page (default 50).", "integer", minimum=1, maximum=MAX_PER_PAGE
    ),
    QueryParam(
        "include_totals",
        "Answer {start, limit, total, clients} instead of a bare array.",
        "boolean",
    ),
    QueryParam(
        "app_type", "Only these application types (comma-separated).", min_length=1, max_length=200
    ),
)


def _client_id(call: Call) -> str:
    client_id = call.path["id"]
    if len(client_id) > MAX_CLIENT_ID:
        raise InvalidUri(
            f"Path validation error: 'String is too long ({len(client_id)} chars), maximum "
            f"{MAX_CLIENT_ID}' on property id."
        )
    return client_id


def clients_operations(service: ClientsService) -> list[Operation]:
    """List, create, read, change, delete clients and rotate their secrets."""

    def listed(call: Call) -> Reply:
        return Reply(service.page(ClientQuery.from_query(call.query)).to_json())

    def create(call: Call) -> Reply:
        client, secret = service.create(NewClient.from_body(call.body))
        shown = client_json(client)
        changes = {name: value for name, value in shown.items() if name != "created_at"}
        return Reply(client_json(client, secret=secret), status=201, changes=changes)

    def read(call: Call) -> Reply:
        query = ClientQuery.from_query(call.query)
        return Reply(query.fields.apply(client_json(service.get(_client_id(call)))))

    def update(call: Call) -> Reply:
        change = ClientChange.from_body(call.body)
        client, _ = service.update(_client_id(call), change)  # a new secret is not shown
        return Reply(
            client_json(client), changes={"client_id": client.client_id, **change.changes()}
        )

    def delete(call: Call) -> Reply:
        client = service.delete(_client_id(call))
        return Reply(status=204, changes={"client_id": client.client_id, "deleted": True})

    def rotate(call: Call) -> Reply:
        client, secret = service.rotate_secret(_client_id(call))
        changes = {"client_id": client.client_id, "client_secret": "(rotated)"}
        return Reply(client_json(client, secret=secret), changes=changes)

    return [
        Operation(
            method="GET",
            path="/clients",
            scopes=READ,
            summary="Get clients",
            description="Clients in creation order. No client_secret is ever shown: "
            "passgate keeps a digest of it.",
            operation_id="get_clients",
            tag=TAG,
            handler=listed,
            answer=Answer(200, "The clients.", _LIST),
            query=(*_FIELDS, *_PAGING),
        ),
        Operation(
            method="POST",
            path="/clients",
            scopes=("create:clients",),
            summary="Create a client",
            description="Left out, token_endpoint_auth_method is none for spa and native "
            "clients, client_secret_post for the others; grant_types is client_credentials "
            "for non_interactive clients, password for the others.",
            operation_id="post_clients",
            tag=TAG,
            handler=create,
            answer=Answer(201, "The client, with its client_secret (shown once).", _WITH_SECRET),
            body=_NEW_BODY,
        ),
        Operation(
            method="GET",
            path="/clients/{id}",
            scopes=READ,
            summary="Get a client",
            operation_id="get_clients_by_id",
            tag=TAG,
            handler=read,
            answer=Answer(200, "The client.", _CLIENT),
            path_params=(_ID,),
            query=_FIELDS,
            not_found=NO_CLIENT,
        ),
        Operation(
            method="PATCH",
            path="/clients/{id}",
            scopes=("update:clients",),
            summary="Update a client",
            description="The settings given are checked together (IP header trust needs a "
            "confidential client; client_credentials too). A public client made "
            "confidential gets a secret that is not shown: rotate it to get one. Running "
            "servers see the change on their next request (other processes within 2 s).",
            operation_id="patch_clients_by_id",
            tag=TAG,
            handler=update,
            answer=Answer(200, "The client after the change.", _CLIENT),
            path_params=(_ID,),
            body=_CHANGE_BODY,
            not_found=NO_CLIENT,
        ),
        Operation(
            method="DELETE",
            path="/clients/{id}",
            scopes=("delete:clients",),
            summary="Delete a client",
            description="Its client grants go with it; tokens already issued stay valid "
            "until they expire.",
            operation_id="delete_clients_by_id",
            tag=TAG,
            handler=delete,
            answer=Answer(204, "The client is deleted."),
            path_params=(_ID,),
            not_found=NO_CLIENT,
        ),
        Operation(
            method="POST",
            path="/clients/{id}/rotate-secret",
            scopes=("update:client_keys",),
            summary="Rotate a client secret",
            description="The old secret stops working at once (other processes within 2 s).",
            operation_id="post_rotate_secret",
            tag=TAG,
            handler=rotate,
            answer=Answer(
                200, "The client, with its new client_secret (shown once).", _WITH_SECRET
            ),
            path_params=(_ID,),
            not_found=NO_CLIENT,
        ),
    ]
