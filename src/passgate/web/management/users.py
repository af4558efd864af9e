"""``/api/v2/users`` and ``/api/v2/users-by-email``: users of the database connections,
through ``management.users`` (the service ``passgate users`` uses too)."""

from __future__ import annotations

from typing import Any

from passgate.management.errors import InvalidQuery, InvalidUri
from passgate.management.user_fields import (
    MAX_CONNECTION,
    MAX_QUERY,
    NewUser,
    UserChange,
    read_search,
)
from passgate.management.users import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    MAX_USER_ID,
    Actor,
    UsersService,
    user_json,
)
from passgate.storage.directory import check_user_fields
from passgate.storage.limits import ValueTooLong
from passgate.web.management.operations import Answer, Call, Operation, PathParam, QueryParam, Reply

__all__ = ["ACTOR", "users_operations"]

ACTOR = "administrator (management api)"
_NO_USER = "No user has this user_id."
_TEXT = {"type": "string"}
_OBJECT = {"type": "object"}
USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["user_id", "email", "email_verified", "identities", "blocked", "created_at"],
    "properties": {
        "user_id": _TEXT,
        "email": _TEXT,
        "email_verified": {"type": "boolean"},
        "username": _TEXT,
        "name": _TEXT,
        "given_name": _TEXT,
        "family_name": _TEXT,
        "nickname": _TEXT,
        "picture": _TEXT,
        "identities": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "connection": _TEXT,
                    "user_id": _TEXT,
                    "provider": _TEXT,
                    "isSocial": {"type": "boolean"},
                },
            },
        },
        "user_metadata": _OBJECT,
        "app_metadata": _OBJECT,
        "blocked": {"type": "boolean"},
        "last_password_reset": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_USERS = {"type": "array", "items": USER_SCHEMA}
_PAGE = {
    "type": "object",
    "required": ["start", "limit", "length", "total", "users"],
    "properties": {
        "start": {"type": "integer"},
        "limit": {"type": "integer"},
        "length": {"type": "integer"},
        "total": {"type": "integer"},
        "users": _USERS,
    },
}
_FIELDS = {
    "email": _TEXT,
    "username": {"type": ["string", "null"]},
    "password": {"type": "string", "writeOnly": True},
    "connection": _TEXT,
    "email_verified": {"type": "boolean"},
    "verify_email": {"type": "boolean"},
    "blocked": {"type": "boolean"},
    "given_name": {"type": ["string", "null"]},
    "family_name": {"type": ["string", "null"]},
    "name": {"type": ["string", "null"]},
    "nickname": {"type": ["string", "null"]},
    "picture": {"type": ["string", "null"]},
    "user_metadata": _OBJECT,
    "app_metadata": _OBJECT,
}
_CREATE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["connection", "email", "password"],
    "properties": {
        **_FIELDS,
        "username": _TEXT,
        **{name: _TEXT for name in ("given_name", "family_name", "name", "nickname", "picture")},
    },
}
_UPDATE_BODY = {"type": "object", "additionalProperties": False, "properties": _FIELDS}
_USER_ID = PathParam(
    "id", "The user_id of the user.", {"type": "string", "minLength": 1, "maxLength": 2048}
)
_LIST_QUERY = (
    QueryParam("page", "The page, from 0.", type="integer", minimum=0, maximum=10**9),
    QueryParam(
        "per_page",
        f"Users per page (default {DEFAULT_PER_PAGE}).",
        type="integer",
        minimum=1,
        maximum=MAX_PER_PAGE,
    ),
    QueryParam(
        "include_totals",
        "true: answer {start, limit, length, total, users}; else a bare array.",
        type="boolean",
    ),
    QueryParam(
        "q",
        'A search on email, username and user_id: email:"a@example.com", username:ada, '
        "user_id:auth0|…, a bare value (any of the three), a prefix ending in * (3 "
        "characters at least), terms joined by AND or OR. Emails and usernames match in any "
        "letter case.",
        max_length=MAX_QUERY,
    ),
    QueryParam("search_engine", "v1, v2 or v3: one search engine serves them all.", max_length=2),
    QueryParam(
        "sort",
        "created_at, updated_at, email, username, user_id or name, then :1 (ascending) or :-1.",
        max_length=20,
    ),
    QueryParam(
        "connection", "Only this connection's users.", min_length=1, max_length=MAX_CONNECTION
    ),
)
_EMAIL = QueryParam(
    "email", "The email, in any letter case.", required=True, min_length=1, max_length=2048
)


def _actor(call: Call) -> Actor:
    return Actor(ACTOR, call.request_context())


def _user_id(call: Call) -> str:
    user_id = call.path["id"]
    if len(user_id) > 2048:
        raise InvalidUri(
            f"Path validation error: 'String is too long ({len(user_id)} chars), maximum "
            "2048' on property id."
        )
    return user_id


def _string(call: Call, name: str) -> str | None:
    value = call.query.get(name)
    return None if value is None else str(value)


def _email(call: Call) -> str:
    email = str(call.query["email"])
    try:
        check_user_fields(email=email)
    except ValueTooLong:
        return email  # no stored email is that long: nobody is found
    if not email.strip():
        raise InvalidQuery("Query validation error: 'String is blank' on property email.")
    return email


def _changes(body: dict[str, Any] | None) -> dict[str, Any]:
    """What a create or update changed, for the audit event (never a password)."""
    return {name: (True if name == "password" else value) for name, value in (body or {}).items()}


def users_operations(service: UsersService) -> list[Operation]:
    """List, create, read, change and delete users; find users by email."""

    def list_users(call: Call) -> Reply:
        search_engine = _string(call, "search_engine")
        if search_engine is not None and search_engine not in ("v1", "v2", "v3"):
            raise InvalidQuery(
                "Query validation error: 'No enum match for: "
                f'"{search_engine}"\' on property search_engine.'
            )
        search = read_search(_string(call, "q"), _string(call, "sort"), _string(call, "connection"))
        return Reply(
            service.list_page(
                search,
                page=int(call.query.get("page", 0)),
                per_page=int(call.query.get("per_page", DEFAULT_PER_PAGE)),
                include_totals=bool(call.query.get("include_totals", False)),
            )
        )

    def create(call: Call) -> Reply:
        user = service.create(NewUser.from_body(call.body), _actor(call))
        changes = {"user_id": user.id, **_changes(call.body)}
        return Reply(user_json(user), status=201, changes=changes)

    def read(call: Call) -> Reply:
        return Reply(user_json(service.get(_user_id(call))))

    def update(call: Call) -> Reply:
        user = service.update(_user_id(call), UserChange.from_body(call.body), _actor(call))
        return Reply(user_json(user), changes={"user_id": user.id, **_changes(call.body)})

    def delete(call: Call) -> Reply:
        user_id = _user_id(call)
        service.delete(user_id)
        return Reply(status=204, changes={"user_id": user_id[:MAX_USER_ID], "deleted": True})

    def by_email(call: Call) -> Reply:
        return Reply([user_json(user) for user in service.by_email(_email(call))])

    one = "/users/{id}"
    return [
        Operation(
            method="GET", path="/users", scopes=("read:users",), summary="List or search users",
            operation_id="get_users", tag="users", handler=list_users,
            answer=Answer(200, "The users found, oldest first unless sorted: a bare array, or "
                          "a page with totals.", {"anyOf": [_USERS, _PAGE]}),
            query=_LIST_QUERY,
        ),
        Operation(
            method="POST", path="/users", scopes=("create:users",), summary="Create a user",
            description="In a database connection; the password passes the password policy "
            "and breached password detection's pre-user-registration stage, as a sign-up's.",
            operation_id="post_users", tag="users", handler=create,
            answer=Answer(201, "The user created.", USER_SCHEMA), body=_CREATE_BODY,
        ),
        Operation(
            method="GET", path=one, scopes=("read:users",), summary="Get a user",
            operation_id="get_users_by_id", tag="users", handler=read,
            answer=Answer(200, "The user.", USER_SCHEMA), path_params=(_USER_ID,),
            not_found=_NO_USER,
        ),
        Operation(
            method="PATCH", path=one, scopes=("update:users",), summary="Update a user",
            description="Fields left out keep their value; null clears a profile field. "
            "user_metadata and app_metadata are merged one level deep (null removes a "
            "property, {} empties the object). A new password passes the pre-change-password "
            "checks and releases the account's brute-force blocks.",
            operation_id="patch_users_by_id", tag="users", handler=update,
            answer=Answer(200, "The user after the change.", USER_SCHEMA),
            path_params=(_USER_ID,), body=_UPDATE_BODY, not_found=_NO_USER,
        ),
        Operation(
            method="DELETE", path=one, scopes=("delete:users",), summary="Delete a user",
            description="Its refresh tokens go with it.",
            operation_id="delete_users_by_id", tag="users", handler=delete,
            answer=Answer(204, "The user is deleted."), path_params=(_USER_ID,),
            not_found=_NO_USER,
        ),
        Operation(
            method="GET", path="/users-by-email", scopes=("read:users",),
            summary="Search users by email", operation_id="get_users-by-email", tag="users",
            handler=by_email, answer=Answer(200, "The users with this email, in every "
                                            "connection.", _USERS),
            query=(_EMAIL,),
        ),
    ]  # fmt: skip
