"""Database connections, as the Management API's ``/connections`` and ``passgate
connections`` manage them (Auth0's shapes, strategy ``auth0`` only).

A connection is shown by :func:`connection_json`: ``id``, ``name``, ``display_name``,
``strategy``, ``options`` (as stored: the checked options and any other keys sent),
``enabled_clients``, ``realms`` (its name) and ``is_domain_connection`` (false). Bodies
are read by :class:`NewConnection` and :class:`ConnectionChange`, refusing what Auth0
refuses (400 ``invalid_body`` naming the property). As in Auth0, a PATCH's ``options``
replace the whole options object.

Deleting: a connection that holds users, or the tenant's default directory (what the
``password`` grant logs in to), is refused with 409; delete or move its users first (or
choose another default directory). Every method reads or writes the database: run it off
the event loop. A change is seen by this process's token endpoint at once
(``on_change``), by the others within the records' cache time (5 seconds).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import sqlalchemy as sa

from passgate.domain.connection_options import OptionError, check_options, rules_of
from passgate.domain.models import Connection
from passgate.errors import Conflict, NotFound
from passgate.management.errors import InvalidBody
from passgate.management.listing import FieldSelection, Paging
from passgate.management.payload import body_object, optional_string, required_string
from passgate.storage.connections import (
    ConnectionStore,
    DuplicateConnection,
    PasswordHistory,
    UnknownClients,
)
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.limits import ValueTooLong
from passgate.storage.tenant import DEFAULT_DIRECTORY, TenantStore

__all__ = [
    "MAX_NAME",
    "ConnectionChange",
    "ConnectionQuery",
    "ConnectionsService",
    "NewConnection",
    "connection_json",
    "connections_service",
]

MAX_NAME = 128
MAX_CLIENT_ID = 64
#: Auth0's connection names: letters and digits, single hyphens between them.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](?:-[a-zA-Z0-9]|[a-zA-Z0-9])*")
STRATEGY = "auth0"
NOT_FOUND = "The connection does not exist."
_NEW_FIELDS = (
    "name",
    "strategy",
    "display_name",
    "options",
    "enabled_clients",
    "realms",
    "is_domain_connection",
)
_CHANGE_FIELDS = ("display_name", "options", "enabled_clients", "realms", "is_domain_connection")


def connection_json(connection: Connection) -> dict[str, Any]:
    return {
        "id": connection.id,
        "name": connection.name,
        "display_name": connection.display_name or connection.name,
        "strategy": connection.strategy,
        "options": dict(connection.options),
        "enabled_clients": list(connection.enabled_clients),
        "realms": [connection.name],
        "is_domain_connection": False,
    }


def _invalid(problem: str, field: str | None = None) -> InvalidBody:
    where = f" on property {field}" if field else ""
    return InvalidBody(f"Payload validation error: '{problem}'{where}.")


def _unknown_client(exc: UnknownClients) -> InvalidBody:
    return _invalid(f"No client has the client_id {exc.client_ids[0][:64]!r}", "enabled_clients")


def _options(body: Mapping[str, Any]) -> dict[str, Any] | None:
    if "options" not in body:
        return None
    try:
        return check_options(body["options"])
    except OptionError as exc:
        raise _invalid(exc.problem, exc.field) from None


def _clients(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "enabled_clients" not in body:
        return None
    value = body["enabled_clients"]
    if not isinstance(value, list):
        raise _invalid("Expected type array", "enabled_clients")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_CLIENT_ID:
            raise _invalid(
                f"Expected a client_id (1 to {MAX_CLIENT_ID} characters)",
                f"enabled_clients[{index}]",
            )
    return tuple(dict.fromkeys(value))


def _fixed(body: Mapping[str, Any], name: str | None) -> None:
    """``realms`` and ``is_domain_connection``: accepted with the one value passgate has."""
    if "is_domain_connection" in body and body["is_domain_connection"] is not False:
        raise _invalid(
            "passgate's connections are never domain connections", "is_domain_connection"
        )
    if "realms" in body and name is not None and body["realms"] != [name]:
        raise _invalid(f"A connection's only realm is its name ({name})", "realms")


@dataclasses.dataclass(frozen=True, slots=True)
class NewConnection:
    name: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    display_name: str | None = None
    #: None: no client (as Auth0); the CLI may pass every client's id.
    enabled_clients: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, body: object) -> NewConnection:
        fields = body_object(body, _NEW_FIELDS)
        name = required_string(fields, "name", max_length=MAX_NAME)
        if not NAME_PATTERN.fullmatch(name):
            raise _invalid(
                "String does not match pattern: letters and digits, single hyphens between them",
                "name",
            )
        strategy = required_string(fields, "strategy", max_length=100)
        if strategy != STRATEGY:
            raise _invalid(
                f"passgate has database connections only: strategy must be {STRATEGY!r}",
                "strategy",
            )
        _fixed(fields, name)
        return cls(
            name=name,
            options=_options(fields) or {},
            display_name=optional_string(fields, "display_name", max_length=MAX_NAME),
            enabled_clients=_clients(fields) or (),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionChange:
    display_name: str | None = None
    options: Mapping[str, Any] | None = None
    enabled_clients: tuple[str, ...] | None = None
    #: ``realms`` as sent (checked against the connection's name once it is known).
    realms: object = None

    @classmethod
    def from_body(cls, body: object) -> ConnectionChange:
        fields = body_object(body, _CHANGE_FIELDS)
        _fixed(fields, None)
        return cls(
            display_name=optional_string(fields, "display_name", max_length=MAX_NAME),
            options=_options(fields),
            enabled_clients=_clients(fields),
            realms=fields.get("realms"),
        )

    def changes(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.display_name is not None:
            found["display_name"] = self.display_name
        if self.options is not None:
            found["options"] = dict(self.options)
        if self.enabled_clients is not None:
            found["enabled_clients"] = list(self.enabled_clients)
        return found


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionQuery:
    paging: Paging = dataclasses.field(default_factory=Paging)
    fields: FieldSelection = dataclasses.field(default_factory=FieldSelection)
    name: str | None = None
    strategy: tuple[str, ...] = ()
    #: Checkpoint paging (what Auth0's SDKs send): the id to start from, how many.
    from_id: str | None = None
    take: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> ConnectionQuery:
        raw = query.get("strategy")
        strategies = tuple(s.strip() for s in str(raw).split(",") if s.strip()) if raw else ()
        name = query.get("name")
        return cls(
            paging=Paging.from_query(query),
            fields=FieldSelection.from_query(query),
            name=str(name) if name is not None else None,
            strategy=strategies,
            from_id=str(query["from"]) if query.get("from") is not None else None,
            take=take if isinstance(take := query.get("take"), int) else None,
        )


class ConnectionsService:
    def __init__(
        self,
        store: ConnectionStore,
        history: PasswordHistory,
        *,
        default_directory: Callable[[], str],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._history = history
        self._default_directory = default_directory
        self._on_change = on_change

    def get(self, connection_id: str) -> Connection:
        found = self._store.get(connection_id) if len(connection_id) <= 40 else None
        if found is None:
            raise NotFound(NOT_FOUND, code="inexistent_connection")
        return found

    def by_name(self, name: str) -> Connection:
        found = self._store.by_name(name) if len(name) <= MAX_NAME else None
        if found is None:
            raise NotFound(NOT_FOUND, code="inexistent_connection")
        return found

    def find(self, query: ConnectionQuery) -> list[Connection]:
        if query.strategy and STRATEGY not in query.strategy:
            return []
        return self._store.list(name=query.name)

    def page(self, query: ConnectionQuery) -> list[dict[str, Any]] | dict[str, Any]:
        found = self.find(query)
        if query.from_id is not None or query.take is not None:
            return self._checkpoint(found, query)
        paging = query.paging
        shown = [
            query.fields.apply(connection_json(c))
            for c in found[paging.start : paging.start + paging.per_page]
        ]
        return paging.envelope("connections", shown, lambda: len(found))

    @staticmethod
    def _checkpoint(found: list[Connection], query: ConnectionQuery) -> dict[str, Any]:
        """Auth0's checkpoint page ``{connections, next}``, by name; ``next`` is the id of
        the first connection of the next page (absent after the last)."""
        ids = [connection.id for connection in found]
        start = ids.index(query.from_id) if query.from_id in ids else 0
        if query.from_id is not None and query.from_id not in ids:
            start = len(ids)  # a connection deleted meanwhile, or never there
        take = query.take or 50
        page: dict[str, Any] = {
            "connections": [
                query.fields.apply(connection_json(c)) for c in found[start : start + take]
            ]
        }
        if start + take < len(found):
            page["next"] = ids[start + take]
        return page

    def create(self, new: NewConnection, *, all_clients: bool = False) -> Connection:
        """Create a connection (``all_clients``: every client enabled, whatever
        ``new.enabled_clients`` says). 409 when the name is taken."""
        try:
            created = self._store.create(
                name=new.name,
                options=new.options,
                enabled_clients=None if all_clients else new.enabled_clients,
                display_name=new.display_name,
            )
        except DuplicateConnection:
            raise Conflict(
                "A connection with the same name already exists", code="connection_conflict"
            ) from None
        except UnknownClients as exc:
            raise _unknown_client(exc) from None
        except ValueTooLong as exc:
            raise _invalid(str(exc), exc.field) from None
        self._on_change()
        return created

    def update(self, connection_id: str, change: ConnectionChange) -> Connection:
        current = self.get(connection_id)
        if change.realms is not None and change.realms != [current.name]:
            raise _invalid(f"A connection's only realm is its name ({current.name})", "realms")
        try:
            updated = self._store.update(
                current.id,
                display_name=change.display_name,
                options=change.options,
                enabled_clients=change.enabled_clients,
            )
        except UnknownClients as exc:
            raise _unknown_client(exc) from None
        except ValueTooLong as exc:
            raise _invalid(str(exc), exc.field) from None
        if updated is None:
            raise NotFound(NOT_FOUND, code="inexistent_connection")
        if change.options is not None and not rules_of(updated.options).history_size:
            self._history.forget_connection(updated.id)  # it keeps no history any more
        self._on_change()
        return updated

    def delete(self, connection_id: str) -> Connection:
        current = self.get(connection_id)
        if current.name == self._default_directory():
            raise Conflict(
                f"{current.name} is the default directory (the password grant's "
                "connection): it cannot be deleted",
                code="operation_not_supported",
            )
        users = self._store.user_count(current.id)
        if users:
            raise Conflict(
                f"The connection holds {users} user(s): delete them first",
                code="operation_not_supported",
            )
        if not self._store.delete(current.id):
            raise NotFound(NOT_FOUND, code="inexistent_connection")
        self._on_change()
        return current


class _Forgets(Protocol):
    def forget_connections(self) -> None: ...


def connections_service(
    engine: sa.Engine, tenant: TenantStore, records: _Forgets
) -> ConnectionsService:
    """The service over the database, the tenant's default directory kept from deletion;
    a change makes ``records`` (the token endpoint's) read connections afresh."""
    return ConnectionsService(
        ConnectionStore(engine),
        PasswordHistory(engine),
        default_directory=lambda: str(tenant.get(DEFAULT_DIRECTORY, DEFAULT_CONNECTION)),
        on_change=records.forget_connections,
    )
