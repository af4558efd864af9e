"""One user of a bulk-import file, read as Auth0 reads it, or the reasons it is refused.

The properties are Auth0's (``email`` required; ``email_verified``, ``user_id``,
``username``, ``given_name``, ``family_name``, ``name``, ``nickname``, ``picture``,
``blocked``, ``user_metadata``, ``app_metadata``, and at most one of ``password_hash`` and
``custom_password_hash``); their values follow the same rules as ``POST /users``
(:mod:`passgate.management.user_fields`). A refusal is a :class:`RowError` with Auth0's
``code``, a ``message`` and the ``path`` of the property at fault; it never holds a hash.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from passgate.domain.models import UserProfile
from passgate.errors import InvalidValue
from passgate.management.errors import InvalidBody
from passgate.management.user_fields import (
    _email,
    _flag,
    _lengths,
    _profile,
    _username,
    imported_metadata,
)
from passgate.storage.schema import users
from passgate.storage.user_import import ImportedUser
from passgate.support.hash_imports import from_custom_hash, from_password_hash
from passgate.support.legacy_hashes import UnsupportedHash

__all__ = ["UNUSABLE_HASH", "RowError", "echo", "read_row"]

#: Stored for a user imported without a password: it matches no password (the user
#: sets one with a password reset).
UNUSABLE_HASH = "!"
_ALLOWED = frozenset(
    {
        "email",
        "email_verified",
        "user_id",
        "username",
        "given_name",
        "family_name",
        "name",
        "nickname",
        "picture",
        "blocked",
        "user_metadata",
        "app_metadata",
        "password_hash",
        "custom_password_hash",
    }
)
_ECHOED = ("email", "user_id", "username")
#: The properties of a profile (:func:`~passgate.domain.profiles.read_profile`), and the
#: profile of a row that gives none of them.
_PROFILE = frozenset({"given_name", "family_name", "name", "nickname", "picture"})
_NO_PROFILE = UserProfile()
#: An imported ``user_id`` (after Auth0's ``auth0|`` prefix, which is added when missing).
_USER_ID = re.compile(r"[A-Za-z0-9_.@+\-]{1,58}")


@dataclasses.dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was not imported (Auth0's job error: ``code``, ``message``, ``path``)."""

    code: str
    message: str
    path: str = ""


class _Refused(InvalidValue):
    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.error = RowError(code, message, path)


def echo(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a job error shows of its row: the identifiers, never a hash or metadata."""
    if not isinstance(value, Mapping):
        return {}
    return {name: value[name][:320] for name in _ECHOED if isinstance(value.get(name), str)}


_LIMITS = {
    name: int(users.c[name].type.length)  # type: ignore[attr-defined]
    for name in ("email", "username", "name", "given_name", "family_name", "nickname", "picture")
}


def _near_a_limit(email: str, username: str | None, name: str | None, profile: UserProfile) -> bool:
    """Whether a value could pass its column's length (a case-folded key can be up to
    three times longer than its value): only those get the full check, which costs more
    than the rest of a row's reading."""
    limits = _LIMITS
    return (
        len(email) * 3 > limits["email"]
        or (username is not None and len(username) * 3 > limits["username"])
        or (name is not None and len(name) * 3 > limits["name"])
        or (profile.given_name is not None and len(profile.given_name) * 3 > limits["given_name"])
        or (
            profile.family_name is not None and len(profile.family_name) * 3 > limits["family_name"]
        )
        or (profile.nickname is not None and len(profile.nickname) * 3 > limits["nickname"])
        or (profile.picture is not None and len(profile.picture) * 3 > limits["picture"])
    )


def _field_error(exc: InvalidBody, path: str) -> _Refused:
    message = exc.message
    code = "INVALID_TYPE" if "Expected type" in message else "INVALID_FORMAT"
    return _Refused(code, message, path)


def _user_id(value: object) -> str:
    if not isinstance(value, str):
        raise _Refused("INVALID_TYPE", "user_id: Expected type string", "user_id")
    bare = value.removeprefix("auth0|")
    if not _USER_ID.fullmatch(bare):
        raise _Refused(
            "INVALID_FORMAT",
            "user_id: 1 to 58 letters, digits or . _ @ + - (after an optional auth0|)",
            "user_id",
        )
    return "auth0|" + bare


def _hash(row: Mapping[str, Any]) -> str:
    if "password_hash" in row and "custom_password_hash" in row:
        raise _Refused(
            "INVALID_FORMAT",
            "password_hash and custom_password_hash are mutually exclusive",
            "password_hash",
        )
    try:
        if "password_hash" in row:
            return from_password_hash(row["password_hash"])
        if "custom_password_hash" in row:
            return from_custom_hash(row["custom_password_hash"])
    except UnsupportedHash as exc:
        path = "custom_password_hash" if "custom_password_hash" in row else "password_hash"
        raise _Refused("INVALID_HASH", str(exc), path) from None
    return UNUSABLE_HASH


def _read(row: Mapping[str, Any]) -> ImportedUser:
    if not _ALLOWED.issuperset(row):
        extra = sorted(str(name)[:50] for name in row if name not in _ALLOWED)
        message = f"Additional properties not allowed: {', '.join(extra)[:200]}"
        raise _Refused("OBJECT_ADDITIONAL_PROPERTIES", message, extra[0])
    if "email" not in row:
        raise _Refused(
            "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: email", "email"
        )
    path = "email"
    try:
        email = _email(row["email"])
        path = "username"
        username = _username(row["username"]) if "username" in row else None
        path = ""
        name, profile = (None, _NO_PROFILE) if _PROFILE.isdisjoint(row) else _profile(row)
        path = "user_metadata"
        user_metadata = (
            imported_metadata(row["user_metadata"], "user_metadata")
            if "user_metadata" in row
            else None
        )
        path = "app_metadata"
        app_metadata = (
            imported_metadata(row["app_metadata"], "app_metadata")
            if "app_metadata" in row
            else None
        )
        path = "email_verified"
        email_verified = bool(_flag(row, "email_verified"))
        path = "blocked"
        blocked = bool(_flag(row, "blocked"))
        path = ""
        if _near_a_limit(email, username, name, profile):
            _lengths(email, username, name, profile)
    except InvalidBody as exc:
        raise _field_error(exc, path) from None
    given_user_id = row.get("user_id")
    return ImportedUser.build(
        email=email,
        username=username,
        user_id=_user_id(given_user_id) if "user_id" in row else None,
        given_user_id=given_user_id,
        email_verified=email_verified,
        blocked=blocked,
        name=name,
        profile=profile,
        user_metadata=user_metadata,
        app_metadata=app_metadata,
        password_hash=_hash(row),
        given=row.keys(),
    )


def read_row(row: Mapping[str, Any]) -> ImportedUser | RowError:
    """The user ``row`` describes, or why it cannot be imported. ``row`` is one that
    :func:`~passgate.support.json_rows.read_rows` accepted (its values are checked)."""
    try:
        return _read(row)
    except _Refused as refused:
        return refused.error
