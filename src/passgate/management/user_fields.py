"""Reading the Management API's user bodies and searches as Auth0 does.

``POST /users`` (:meth:`NewUser.from_body`), ``PATCH /users/{id}``
(:meth:`UserChange.from_body`) and ``GET /users``'s ``q`` and ``sort``
(:func:`read_search`) are read here, refusing what Auth0 refuses with its words
(``Payload validation error: '…' on property NAME.``). The same rules serve
``passgate users``: the command line builds the same values.

Text fields follow sign-up's rules (:mod:`passgate.domain.profiles`: strings, not blank,
UTF-8 text without NUL, ``picture`` an http(s) URL) and their columns' lengths.
``user_metadata`` and ``app_metadata`` are JSON objects of at most
:data:`METADATA_MAX_CHARS` characters (as compact JSON) whose property names are not empty,
at most 100 characters, without ``.`` or ``$``. A PATCH merges them into the stored ones one
level deep, as Auth0 does: a property sent replaces the stored one, ``null`` removes it,
and ``{}`` empties the whole object.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from passgate.accounts.model import is_email_address
from passgate.domain.identifiers import is_valid_username
from passgate.domain.models import UserProfile
from passgate.domain.profiles import METADATA_MAX_NAME, ProfileError, check_text, read_profile
from passgate.management.errors import InvalidBody, InvalidQuery
from passgate.storage.directory import check_user_fields, metadata_json
from passgate.storage.limits import ValueTooLong
from passgate.storage.user_search import SORTABLE, Term, UserSearch
from passgate.support.json_rows import json_value_problem

__all__ = [
    "MAX_CONNECTION",
    "MAX_PASSWORD",
    "MAX_QUERY",
    "METADATA_MAX_CHARS",
    "NewUser",
    "UserChange",
    "imported_metadata",
    "merge_metadata",
    "read_search",
]

#: The longest metadata object, as compact JSON (ours; half the default body cap).
METADATA_MAX_CHARS = 8192
MAX_CONNECTION = 128
#: The token endpoint refuses longer passwords, so an account with one could never log in.
MAX_PASSWORD = 4096
MAX_QUERY = 1000
#: A wildcard needs this many characters before it (as Auth0's user search).
MIN_PREFIX = 3
_TEXT_FIELDS = ("given_name", "family_name", "name", "nickname", "picture")
_CREATE_FIELDS = frozenset(
    {
        "connection",
        "email",
        "username",
        "password",
        "email_verified",
        "verify_email",
        "blocked",
        "user_metadata",
        "app_metadata",
        *_TEXT_FIELDS,
    }
)
_UPDATE_FIELDS = _CREATE_FIELDS
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else _JSON_TYPES.get(type(value), "unknown")


def invalid(problem: str, name: str | None = None) -> InvalidBody:
    where = f" on property {name}" if name else ""
    return InvalidBody(f"Payload validation error: '{problem}'{where}.")


def _expected(value: object, kind: str, name: str) -> InvalidBody:
    return invalid(f"Expected type {kind} but found type {_type_name(value)}", name)


def _fields(body: Mapping[str, Any] | None, allowed: frozenset[str]) -> Mapping[str, Any]:
    fields = body or {}
    extra = sorted(str(name) for name in fields if name not in allowed)
    if extra:
        raise invalid(f"Additional properties not allowed: {', '.join(extra)[:200]}")
    return fields


def _text(value: object, name: str, max_length: int | None = None) -> str:
    """A non-empty string of UTF-8 text without NUL; ``max_length`` when no column bounds
    it (a column's length is checked by :func:`_lengths`, in the storage's words)."""
    if not isinstance(value, str):
        raise _expected(value, "string", name)
    if not value:
        raise invalid("String is too short (0 chars), minimum 1", name)
    if max_length is not None and len(value) > max_length:
        raise invalid(f"String is too long ({len(value)} chars), maximum {max_length}", name)
    try:
        check_text(value, name)
    except ProfileError as exc:
        raise invalid("String is not valid UTF-8 text or holds a NUL character", name) from exc
    return value


def _flag(fields: Mapping[str, Any], name: str) -> bool | None:
    if name not in fields:
        return None
    value = fields[name]
    if not isinstance(value, bool):
        raise _expected(value, "boolean", name)
    return value


def _email(value: object) -> str:
    email = _text(value, "email")
    if not is_email_address(email):
        raise invalid(
            "Object didn't pass validation for format email: not an email address", "email"
        )
    return email


def _username(value: object) -> str:
    username = _text(value, "username")
    if not is_valid_username(username):
        raise invalid(
            "String does not match pattern: a username has no '@', white space or "
            "control character",
            "username",
        )
    return username


def _password(value: object) -> str:
    return _text(value, "password", MAX_PASSWORD)


def _lengths(email: str, username: str | None, name: str | None, profile: UserProfile) -> None:
    """Each value and the case-folded key beside an email or username fits its column."""
    try:
        check_user_fields(email=email, username=username, name=name, profile=profile)
    except ValueTooLong as exc:
        raise invalid(str(exc), exc.field) from exc


def _profile(fields: Mapping[str, Any]) -> tuple[str | None, UserProfile]:
    try:
        return read_profile({k: fields[k] for k in _TEXT_FIELDS if k in fields})
    except ProfileError as exc:
        raise invalid(str(exc)) from exc


def _check_properties(value: object, name: str, *, nulls: bool) -> dict[str, Any]:
    """``value`` when it is an object with valid property names (and, unless ``nulls``,
    no null value)."""
    if not isinstance(value, dict):
        raise _expected(value, "object", name)
    for key, item in value.items():
        if not key or len(key) > METADATA_MAX_NAME or "." in key or "$" in key:
            raise invalid(
                f"Property names have 1 to {METADATA_MAX_NAME} characters, no '.' or '$'", name
            )
        if item is None and not nulls:
            raise invalid(f"Property {key[:50]} is null (leave it out instead)", name)
    return value


def _metadata(value: object, name: str, *, patch: bool) -> dict[str, Any]:
    value = _check_properties(value, name, nulls=patch)
    problem = json_value_problem(value)
    if problem is not None:  # what no JSON encoder or jsonb could hold
        raise invalid(f"Object holds {problem}", name)
    _check_size(value, name)
    return dict(value)


def _check_size(value: Mapping[str, Any], name: str) -> None:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if size > METADATA_MAX_CHARS:
        raise invalid(f"Object is too large ({size} chars), maximum {METADATA_MAX_CHARS}", name)


def imported_metadata(value: object, name: str) -> str | None:
    """An imported row's metadata object by :func:`_metadata`'s rules, as the compact JSON
    its column holds (None when empty). The row's values were checked as it was read
    (:func:`~passgate.support.json_rows.json_value_problem`), so they are not again."""
    value = _check_properties(value, name, nulls=False)
    text = metadata_json(value)  # the column's own form, measured as _check_size does
    if text is not None and len(text) > METADATA_MAX_CHARS:
        size = len(text)
        raise invalid(f"Object is too large ({size} chars), maximum {METADATA_MAX_CHARS}", name)
    return text


def merge_metadata(
    stored: Mapping[str, Any], patch: Mapping[str, Any], name: str
) -> dict[str, Any]:
    """``patch`` merged into ``stored`` one level deep (``{}`` empties it; null removes)."""
    if not patch:
        return {}
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    _check_size(merged, name)
    return merged


@dataclasses.dataclass(frozen=True, slots=True)
class NewUser:
    """A user to create (``POST /users``, ``passgate users create``)."""

    connection: str
    email: str
    password: str | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    name: str | None = None
    profile: UserProfile = dataclasses.field(default_factory=UserProfile)
    email_verified: bool = False
    blocked: bool = False
    app_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        """The rules :meth:`from_body` applies, for values built elsewhere (the CLI)."""
        _email(self.email)
        if self.username is not None:
            _username(self.username)
        if self.name is not None:
            _text(self.name, "name")
        _lengths(self.email, self.username, self.name, self.profile)

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> NewUser:
        fields = _fields(body, _CREATE_FIELDS)
        if "connection" not in fields:
            raise invalid("Missing required property: connection")
        connection = _text(fields["connection"], "connection", MAX_CONNECTION)
        if "email" not in fields:
            raise invalid("Missing required property: email")
        email = _email(fields["email"])
        if "password" not in fields:
            raise invalid("Missing required property: password")
        password = _password(fields["password"])
        username = _username(fields["username"]) if "username" in fields else None
        name, profile = _profile(fields)
        if "user_metadata" in fields:
            metadata = _metadata(fields["user_metadata"], "user_metadata", patch=False)
            profile = dataclasses.replace(profile, user_metadata=metadata)
        app_metadata = (
            _metadata(fields["app_metadata"], "app_metadata", patch=False)
            if "app_metadata" in fields
            else {}
        )
        _flag(fields, "verify_email")  # taken as Auth0's SDKs send it; no email is sent
        _lengths(email, username, name, profile)
        return cls(
            connection=connection,
            email=email,
            password=password,
            username=username,
            name=name,
            profile=profile,
            email_verified=bool(_flag(fields, "email_verified")),
            blocked=bool(_flag(fields, "blocked")),
            app_metadata=app_metadata,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class UserChange:
    """What a ``PATCH /users/{id}`` changes. ``values``: columns to set (None clears a
    text field); metadata are patches merged into the stored objects."""

    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    password: str | None = dataclasses.field(default=None, repr=False)
    connection: str | None = None
    user_metadata: Mapping[str, Any] | None = None
    app_metadata: Mapping[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return not (self.values or self.password or self.user_metadata is not None) and (
            self.app_metadata is None
        )

    @classmethod
    def from_body(cls, body: Mapping[str, Any] | None) -> UserChange:
        fields = _fields(body, _UPDATE_FIELDS)
        values: dict[str, Any] = {}
        if "email" in fields:
            values["email"] = _email(fields["email"])
        if "username" in fields:
            raw = fields["username"]
            values["username"] = None if raw is None else _username(raw)
        for flag in ("email_verified", "blocked"):
            found = _flag(fields, flag)
            if found is not None:
                values[flag] = found
        _flag(fields, "verify_email")
        given = {k: v for k, v in fields.items() if k in _TEXT_FIELDS and v is not None}
        name, profile = _profile(given)
        for key in _TEXT_FIELDS:
            if key in fields:
                values[key] = name if key == "name" else getattr(profile, key)
        _lengths(values.get("email", "a@example.com"), values.get("username"), name, profile)
        return cls(
            values=values,
            password=_password(fields["password"]) if "password" in fields else None,
            connection=(
                _text(fields["connection"], "connection", MAX_CONNECTION)
                if "connection" in fields
                else None
            ),
            user_metadata=(
                _metadata(fields["user_metadata"], "user_metadata", patch=True)
                if "user_metadata" in fields
                else None
            ),
            app_metadata=(
                _metadata(fields["app_metadata"], "app_metadata", patch=True)
                if "app_metadata" in fields
                else None
            ),
        )


# -- searches --------------------------------------------------------------------------
_TOKEN = re.compile(
    r'\s*(?:(?P<field>[A-Za-z_][A-Za-z0-9_.]*):)?(?:"(?P<quoted>(?:[^"\\]|\\.)*)"'
    r'|(?P<bare>[^\s"()]+))'
)
_FIELDS: dict[str, Literal["email", "username", "user_id"]] = {
    "email": "email",
    "username": "username",
    "user_id": "user_id",
}


def _query_error(problem: str, name: str = "q") -> InvalidQuery:
    return InvalidQuery(f"Query validation error: '{problem}' on property {name}.")


def _term(match: re.Match[str], position: int) -> Term:
    field_name = match.group("field")
    quoted = match.group("quoted")
    if field_name is not None and field_name not in _FIELDS:
        raise _query_error(
            f"Unknown field {field_name[:50]!r} at position {position} (search by email, "
            "username or user_id)"
        )
    field = _FIELDS[field_name] if field_name is not None else "any"
    if quoted is not None:
        value = re.sub(r"\\(.)", r"\1", quoted)
        if not value:
            raise _query_error(f"Empty value at position {position}")
        return Term(field, value)
    bare = match.group("bare")
    prefix = bare.endswith("*")
    value = bare.rstrip("*") if prefix else bare
    if "*" in value or "?" in value:
        raise _query_error(f"A wildcard may only end a value (position {position})")
    if prefix and len(value) < MIN_PREFIX:
        raise _query_error(
            f"A wildcard needs at least {MIN_PREFIX} characters before it (position {position})"
        )
    if not value:
        raise _query_error(f"Empty value at position {position}")
    return Term(field, value, prefix=prefix)


def _terms(q: str) -> tuple[tuple[Term, ...], Literal["and", "or"]]:
    terms: list[Term] = []
    joins: set[str] = set()
    position = 0
    expect_term = True
    while position < len(q):
        if not q[position:].strip():
            break
        if not expect_term:
            operator = re.match(r"\s+(AND|OR)(?:\s+|$)", q[position:])
            if operator is None:
                raise _query_error(f"Expected AND or OR at position {position}")
            joins.add(operator.group(1).lower())
            position += operator.end()
            expect_term = True
            continue
        match = _TOKEN.match(q, position)
        start = position + (len(q[position:]) - len(q[position:].lstrip()))
        if match is None or match.group(0).strip() in ("AND", "OR"):
            raise _query_error(f"Unexpected character {q[start : start + 1]!r} at position {start}")
        terms.append(_term(match, start))
        position = match.end()
        expect_term = False
    if not terms:
        raise _query_error("The query is empty")
    if expect_term:
        raise _query_error(f"Expected a term after the operator at position {position}")
    if len(joins) > 1:
        raise _query_error("Use either AND or OR in one query, not both")
    return tuple(terms), "or" if joins == {"or"} else "and"


def read_search(
    q: str | None, sort: str | None = None, connection: str | None = None
) -> UserSearch:
    """The search ``GET /users`` asks for; 400 ``invalid_query_string`` saying where a
    query is wrong."""
    terms: tuple[Term, ...] = ()
    join: Literal["and", "or"] = "and"
    if q is not None and q.strip():
        terms, join = _terms(q)
    field, ascending = "created_at", True
    if sort is not None:
        name, _, direction = sort.partition(":")
        if name not in SORTABLE or direction not in ("1", "-1"):
            raise _query_error(
                f"Sort by one of {', '.join(SORTABLE)} followed by :1 or :-1", "sort"
            )
        field, ascending = name, direction == "1"
    return UserSearch(
        terms=terms, join=join, connection=connection, sort=field, ascending=ascending
    )
