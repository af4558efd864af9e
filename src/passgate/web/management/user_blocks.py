"""``/api/v2/user-blocks``: brute-force blocks by identifier or user id, through
``management.user_blocks`` (the resolution ``passgate blocks`` uses; each release logs
``ublkdu``)."""

from __future__ import annotations

from typing import Any

from passgate.management.errors import InvalidQuery, InvalidUri
from passgate.management.user_blocks import UserBlocks
from passgate.protection.unblock import Released, ReleasedBy
from passgate.storage.counters import BlockRecord
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["RELEASED_BY", "user_blocks_operations"]

READ = ("read:users",)
UPDATE = ("update:users",)
RELEASED_BY = "administrator (management api)"
#: Longest identifier or user id looked up.
MAX_IDENTIFIER = 2048

_BLOCKS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["blocked_for"],
    "properties": {
        "blocked_for": {
            "type": "array",
            "description": "Identifier + IP address pairs; no ip in count_per_identifier mode.",
            "items": {
                "type": "object",
                "required": ["identifier", "connection"],
                "properties": {
                    "identifier": {"type": "string"},
                    "ip": {"type": "string"},
                    "connection": {"type": "string"},
                },
            },
        }
    },
}
_IDENTIFIER = QueryParam(
    "identifier",
    "An email, username or user id of the account (any spelling).",
    required=True,
    min_length=1,
    max_length=MAX_IDENTIFIER,
)
_ENABLEMENT = QueryParam(
    "consider_brute_force_enablement",
    "When true, no block is listed while brute-force protection does not block "
    "(disabled, or no block shield).",
    type="boolean",
)
_USER_ID = PathParam(
    "id", "The user_id of the account.", {"type": "string", "minLength": 1, "maxLength": 2048}
)
_NO_USER = "No user has this user_id."


def _blocked_for(records: list[BlockRecord]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for record in records:
        item: dict[str, Any] = {"identifier": record.identifier, "connection": record.connection}
        if record.ip is not None:
            item["ip"] = record.ip
        items.append(item)
    return {"blocked_for": items}


def _identifier(call: Call) -> str:
    identifier = str(call.query["identifier"])
    if not identifier.strip():
        raise InvalidQuery(
            "Query validation error: 'String is blank' on property identifier (An email, "
            "username or user id)."
        )
    return identifier


def _user_id(call: Call) -> str:
    user_id = call.path["id"]
    if len(user_id) > MAX_IDENTIFIER:
        raise InvalidUri(
            f"Path validation error: 'String is too long ({len(user_id)} chars), maximum "
            f"{MAX_IDENTIFIER}' on property id."
        )
    return user_id


def _actor(call: Call) -> ReleasedBy:
    return ReleasedBy(RELEASED_BY, call.request_context())


def _released(done: Released) -> Reply:
    changes = {"released_blocks": len(done.blocks), "reset_counters": done.reset}
    return Reply(status=204, changes=changes)


def user_blocks_operations(service: UserBlocks) -> list[Operation]:
    """GET and DELETE of ``/user-blocks?identifier=`` and ``/user-blocks/{id}``."""

    def by_identifier(call: Call) -> Reply:
        only_enforced = bool(call.query.get("consider_brute_force_enablement", False))
        return Reply(
            _blocked_for(service.of_identifier(_identifier(call), only_enforced=only_enforced))
        )

    def release_identifier(call: Call) -> Reply:
        return _released(service.release_identifier(_identifier(call), _actor(call)))

    def by_user(call: Call) -> Reply:
        only_enforced = bool(call.query.get("consider_brute_force_enablement", False))
        return Reply(_blocked_for(service.of_user(_user_id(call), only_enforced=only_enforced)))

    def release_user(call: Call) -> Reply:
        return _released(service.release_user(_user_id(call), _actor(call)))

    blocks = Answer(200, "The blocks in force.", _BLOCKS_SCHEMA)
    released = Answer(204, "The blocks are released (also when there was none).")
    return [
        Operation(
            method="GET",
            path="/user-blocks",
            scopes=READ,
            summary="Get blocks by identifier",
            operation_id="get_user-blocks",
            tag="user-blocks",
            handler=by_identifier,
            answer=blocks,
            query=(_IDENTIFIER, _ENABLEMENT),
        ),
        Operation(
            method="DELETE",
            path="/user-blocks",
            scopes=UPDATE,
            summary="Unblock by identifier",
            operation_id="delete_user-blocks",
            tag="user-blocks",
            handler=release_identifier,
            answer=released,
            query=(_IDENTIFIER,),
        ),
        Operation(
            method="GET",
            path="/user-blocks/{id}",
            scopes=READ,
            summary="Get a user's blocks",
            operation_id="get_user-blocks_by_id",
            tag="user-blocks",
            handler=by_user,
            answer=blocks,
            path_params=(_USER_ID,),
            query=(_ENABLEMENT,),
            not_found=_NO_USER,
        ),
        Operation(
            method="DELETE",
            path="/user-blocks/{id}",
            scopes=UPDATE,
            summary="Unblock a user",
            operation_id="delete_user-blocks_by_id",
            tag="user-blocks",
            handler=release_user,
            answer=released,
            path_params=(_USER_ID,),
            not_found=_NO_USER,
        ),
    ]
