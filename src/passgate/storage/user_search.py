"""Finding users by email, username or user id, paged: the Management API's ``GET /users``.

A search is a list of terms joined by AND or OR. A term names a field and a value; the
value matches exactly (emails and usernames in any spelling: their canonical keys are
compared, ``domain.identifiers``) or, as a prefix, every value that starts with it. A term
without a field matches the email, the username or the user id. Each term reads an index
(``users.email_key``, ``users.username_key``, the primary key).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa

from passgate.domain.identifiers import canonical_identifier
from passgate.domain.models import User
from passgate.storage.directory import select_users, user_from_row
from passgate.storage.schema import connections, users

__all__ = ["SORTABLE", "Term", "UserSearch", "UserSearches"]

Field = Literal["email", "username", "user_id", "any"]
#: What a list may be sorted by (Auth0's ``sort=field:1|-1``).
SORTABLE = ("created_at", "updated_at", "email", "username", "user_id", "name")


@dataclasses.dataclass(frozen=True, slots=True)
class Term:
    field: Field
    value: str
    prefix: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class UserSearch:
    terms: tuple[Term, ...] = ()
    join: Literal["and", "or"] = "and"
    connection: str | None = None
    sort: str = "created_at"
    ascending: bool = True


def _column(field: str) -> sa.ColumnElement[Any]:
    if field == "email":
        return users.c.email_key
    if field == "username":
        return users.c.username_key
    return users.c.id


def _match(field: str, value: str, prefix: bool) -> sa.ColumnElement[bool]:
    column = _column(field)
    key = value if field == "user_id" else canonical_identifier(value)
    if prefix:
        return column.startswith(key, autoescape=True)
    return column == key


def _condition(term: Term) -> sa.ColumnElement[bool]:
    if term.field != "any":
        return _match(term.field, term.value, term.prefix)
    return sa.or_(
        *(_match(name, term.value, term.prefix) for name in ("email", "username", "user_id"))
    )


def _where(search: UserSearch) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if search.terms:
        conditions = [_condition(term) for term in search.terms]
        where.append(sa.and_(*conditions) if search.join == "and" else sa.or_(*conditions))
    if search.connection is not None:
        where.append(connections.c.name == search.connection)
    return where


class UserSearches:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def page(self, search: UserSearch, *, offset: int, limit: int) -> Sequence[User]:
        """The users ``search`` finds, sorted, from ``offset`` (ties: by user id)."""
        sort_column = users.c.id if search.sort == "user_id" else users.c[search.sort]
        order = sort_column.asc() if search.ascending else sort_column.desc()
        statement = (
            select_users()
            .where(*_where(search))
            .order_by(order, users.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self._engine.connect() as db:
            return [user_from_row(row) for row in db.execute(statement)]

    def count(self, search: UserSearch) -> int:
        statement = (
            sa.select(sa.func.count())
            .select_from(users.join(connections, users.c.connection_id == connections.c.id))
            .where(*_where(search))
        )
        with self._engine.connect() as db:
            return int(db.execute(statement).scalar_one())
