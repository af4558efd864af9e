"""``/api/v2/log-streams``: where the event log is delivered (Auth0's log streams, type
``http``), through ``management.log_streams`` (as ``passgate log-streams``)."""

from __future__ import annotations

from typing import Any

from passgate.domain.log_streams import CATEGORIES, FORMATS
from passgate.management.log_stream_fields import (
    MAX_AUTHORIZATION,
    MAX_CONTENT_TYPE,
    MAX_ENDPOINT,
    MAX_NAME,
)
from passgate.management.log_streams import LogStreamChange, LogStreamsService, NewLogStream
from passgate.web.management.operations import Answer, Call, Operation, PathParam, Reply

__all__ = ["log_streams_operations"]

TAG = "log-streams"
NO_STREAM = "No log stream has this id."

_FILTERS: dict[str, Any] = {
    "type": "array",
    "maxItems": len(CATEGORIES),
    "uniqueItems": True,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "name"],
        "properties": {
            "type": {"type": "string", "enum": ["category"]},
            "name": {"type": "string", "enum": list(CATEGORIES)},
        },
    },
}
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
_ENDPOINT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ENDPOINT,
    "description": "An absolute http:// or https:// URL, without credentials or fragment.",
}
_CONTENT_TYPE = {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT_TYPE}
_FORMAT = {"type": "string", "enum": list(FORMATS)}
_AUTHORIZATION = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_AUTHORIZATION,
    "description": "The Authorization header's value (a secret: shown as ********).",
}
_SINK_PROPERTIES = {
    "httpEndpoint": _ENDPOINT,
    "httpContentType": _CONTENT_TYPE,
    "httpContentFormat": _FORMAT,
}
_STREAM: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "type", "status", "filters", "sink"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["http"]},
        "status": {"type": "string", "enum": ["active", "paused", "suspended"]},
        "isPriority": {"type": "boolean"},
        "filters": _FILTERS,
        "sink": {
            "type": "object",
            "required": ["httpEndpoint", "httpContentType", "httpContentFormat"],
            "properties": {
                **_SINK_PROPERTIES,
                "httpAuthorization": {"type": "string", "enum": ["********"]},
            },
        },
        "delivery": {
            "type": "object",
            "description": "passgate's: how far the stream got and how it fares.",
            "properties": {
                "last_log_id": {"type": ["string", "null"]},
                "delivered_at": {"type": ["string", "null"]},
                "failures": {"type": "integer"},
                "last_error": {"type": ["string", "null"]},
                "retry_at": {"type": ["string", "null"]},
            },
        },
    },
}
_NEW_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "sink"],
    "properties": {
        "name": _NAME,
        "type": {"type": "string", "enum": ["http"]},
        "status": {"type": "string", "enum": ["active", "paused"]},
        "isPriority": {"type": "boolean", "description": "Only false is taken."},
        "filters": _FILTERS,
        "sink": {
            "type": "object",
            "additionalProperties": False,
            "required": ["httpEndpoint"],
            "properties": {**_SINK_PROPERTIES, "httpAuthorization": _AUTHORIZATION},
        },
    },
}
_CHANGE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": _NAME,
        "status": {"type": "string", "enum": ["active", "paused"]},
        "isPriority": {"type": "boolean", "description": "Only false is taken."},
        "filters": _FILTERS,
        "sink": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **_SINK_PROPERTIES,
                "httpAuthorization": {
                    **_AUTHORIZATION,
                    "type": ["string", "null"],
                    "description": "A new value; null: send none; ******** keeps it.",
                },
            },
        },
    },
}
_ID = PathParam("id", "The log stream's id.", {"type": "string", "minLength": 1})


def log_streams_operations(service: LogStreamsService) -> list[Operation]:
    """List, create, read, change and delete log streams."""

    def listed(call: Call) -> Reply:
        return Reply(service.list_streams())

    def create(call: Call) -> Reply:
        stream = service.create(NewLogStream.from_body(call.body))
        return Reply(stream, status=201, changes=stream)

    def read(call: Call) -> Reply:
        return Reply(service.get(call.path["id"]))

    def update(call: Call) -> Reply:
        stream = service.update(call.path["id"], LogStreamChange.from_body(call.body))
        return Reply(stream, changes=stream)

    def delete(call: Call) -> Reply:
        stream = service.get(call.path["id"])
        service.delete(stream["id"])
        return Reply(status=204, changes={**stream, "deleted": True})

    return [
        Operation(
            method="GET",
            path="/log-streams",
            scopes=("read:log_streams",),
            summary="Get log streams",
            description="Every log stream, oldest first (a bare array, as Auth0's).",
            operation_id="get_log-streams",
            tag=TAG,
            handler=listed,
            answer=Answer(200, "The log streams.", {"type": "array", "items": _STREAM}),
        ),
        Operation(
            method="POST",
            path="/log-streams",
            scopes=("create:log_streams",),
            summary="Create a log stream",
            description="Type http only. The stream delivers the events logged from now "
            "on, at least once and in order; at most 10 streams.",
            operation_id="post_log-streams",
            tag=TAG,
            handler=create,
            answer=Answer(201, "The log stream.", _STREAM),
            body=_NEW_BODY,
        ),
        Operation(
            method="GET",
            path="/log-streams/{id}",
            scopes=("read:log_streams",),
            summary="Get a log stream",
            operation_id="get_log-streams_by_id",
            tag=TAG,
            handler=read,
            answer=Answer(200, "The log stream.", _STREAM),
            path_params=(_ID,),
            not_found=NO_STREAM,
        ),
        Operation(
            method="PATCH",
            path="/log-streams/{id}",
            scopes=("update:log_streams",),
            summary="Update a log stream",
            description="status active resumes a paused or suspended stream from where it "
            "stopped; paused stops delivery (the events meanwhile are delivered on resume).",
            operation_id="patch_log-streams_by_id",
            tag=TAG,
            handler=update,
            answer=Answer(200, "The log stream after the change.", _STREAM),
            path_params=(_ID,),
            body=_CHANGE_BODY,
            not_found=NO_STREAM,
        ),
        Operation(
            method="DELETE",
            path="/log-streams/{id}",
            scopes=("delete:log_streams",),
            summary="Delete a log stream",
            operation_id="delete_log-streams_by_id",
            tag=TAG,
            handler=delete,
            answer=Answer(204, "The log stream is deleted."),
            path_params=(_ID,),
            not_found=NO_STREAM,
        ),
    ]
