"""APIs (Auth0's resource servers), as the Management API's ``/resource-servers`` and
``passgate apis`` manage them.

An API is named by its id or by its identifier (the audience), as Auth0 allows. The
Management API's own (``is_system``) is listed and read like the others; it takes a new
``token_lifetime`` only (its identifier follows the issuer, its name and scopes are
passgate's) and is never deleted, as Auth0 answers for its system APIs. The rules of an
API's settings are the store's (``storage.applications``); a refused one is a
:class:`~passgate.management.errors.SettingRefused`.

Scopes come in as Auth0's ``[{"value", "description"}]``; passgate keeps the values (a
description is accepted and not kept) and shows ``[{"value"}]``. Every method does I/O:
run it off the event loop. A change is seen by this process's token endpoint at once
(``on_change``), by the others within the records' cache time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from passgate.domain.models import Api
from passgate.errors import BadRequest, Conflict, NotFound
from passgate.management.errors import InvalidBody, SettingRefused
from passgate.management.listing import Paging
from passgate.management.payload import body_object, optional_string, required_string
from passgate.storage.applications import (
    MAX_SCOPE,
    ApiExists,
    Applications,
    InvalidConfiguration,
)
from passgate.storage.limits import max_length
from passgate.storage.schema import apis

__all__ = [
    "NewResourceServer",
    "ResourceServerChange",
    "ResourceServersService",
    "resource_server_json",
]

MAX_IDENTIFIER = max_length(apis.c.identifier) or 600
MAX_NAME = max_length(apis.c.name) or 256
#: Auth0's longest scope description.
MAX_SCOPE_DESCRIPTION = 500
#: What the system API takes in a PATCH.
SYSTEM_SETTINGS = ("token_lifetime",)
_SETTINGS = ("name", "scopes", "signing_alg", "token_lifetime", "allow_offline_access")


def resource_server_json(api: Api) -> dict[str, Any]:
    return {
        "id": api.id,
        "name": api.name,
        "identifier": api.identifier,
        "is_system": api.is_system,
        "scopes": [{"value": scope} for scope in api.scopes],
        "signing_alg": api.signing_alg,
        "allow_offline_access": api.allow_offline_access,
        "token_lifetime": api.token_lifetime,
    }


def _payload_error(problem: str, name: str) -> InvalidBody:
    return InvalidBody(f"Payload validation error: '{problem}' on property {name}.")


def _type_name(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), "object")


def _scopes(fields: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Auth0's ``scopes``: an array of ``{value, description}`` objects."""
    if "scopes" not in fields:
        return None
    items = fields["scopes"]
    if not isinstance(items, list):
        raise _payload_error(f"Expected type array but found type {_type_name(items)}", "scopes")
    values: list[str] = []
    for index, item in enumerate(items):
        where = f"scopes[{index}]"
        scope = body_object(item, ("value", "description"))
        value = required_string(scope, "value", max_length=MAX_SCOPE)
        optional_string(scope, "description", max_length=MAX_SCOPE_DESCRIPTION)
        if value in values:
            raise _payload_error(f"Scope {value} is given twice", where)
        values.append(value)
    return tuple(values)


def _typed(fields: Mapping[str, Any], name: str, kind: type) -> Any:
    if name not in fields:
        return None
    value = fields[name]
    if type(value) is not kind:  # a boolean is no integer here
        expected = _type_name(kind())
        raise _payload_error(f"Expected type {expected} but found type {_type_name(value)}", name)
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class NewResourceServer:
    identifier: str
    name: str | None = None
    scopes: tuple[str, ...] = ()
    signing_alg: str = "RS256"
    token_lifetime: int = 86400
    allow_offline_access: bool = False

    @classmethod
    def from_body(cls, body: object) -> NewResourceServer:
        """The API a ``POST /resource-servers`` body asks for (400 ``invalid_body`` else)."""
        fields = body_object(body, ("identifier", *_SETTINGS))
        token_lifetime = _typed(fields, "token_lifetime", int)
        offline = _typed(fields, "allow_offline_access", bool)
        return cls(
            identifier=required_string(fields, "identifier", max_length=MAX_IDENTIFIER),
            name=optional_string(fields, "name", max_length=MAX_NAME),
            scopes=_scopes(fields) or (),
            signing_alg=optional_string(fields, "signing_alg", max_length=10) or "RS256",
            token_lifetime=86400 if token_lifetime is None else token_lifetime,
            allow_offline_access=bool(offline),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceServerChange:
    """What a ``PATCH /resource-servers/{id}`` changes; None: left as it is."""

    name: str | None = None
    scopes: tuple[str, ...] | None = None
    signing_alg: str | None = None
    token_lifetime: int | None = None
    allow_offline_access: bool | None = None

    @classmethod
    def from_body(cls, body: object) -> ResourceServerChange:
        fields = body_object(body, _SETTINGS)
        return cls(
            name=optional_string(fields, "name", max_length=MAX_NAME),
            scopes=_scopes(fields),
            signing_alg=optional_string(fields, "signing_alg", max_length=10),
            token_lifetime=_typed(fields, "token_lifetime", int),
            allow_offline_access=_typed(fields, "allow_offline_access", bool),
        )

    def changes(self) -> dict[str, Any]:
        found = {name: getattr(self, name) for name in _SETTINGS}
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in found.items()
            if value is not None
        }


def _not_found() -> NotFound:
    return NotFound("The resource server does not exist", code="inexistent_resource_server")


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    try:
        yield
    except ApiExists as exc:
        raise Conflict(str(exc), code="conflict") from None
    except InvalidConfiguration as exc:
        raise SettingRefused(str(exc)) from None


class ResourceServersService:
    def __init__(
        self, applications: Applications, *, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._applications = applications
        self._on_change = on_change

    def create(self, new: NewResourceServer) -> Api:
        """Make an API; 409 when another has its identifier."""
        if self._applications.api_by_identifier(new.identifier) is not None:
            raise Conflict(f"A resource server with identifier {new.identifier} already exists")
        with _refused():
            api = self._applications.create_api(
                identifier=new.identifier,
                scopes=new.scopes,
                name=new.name,
                token_lifetime=new.token_lifetime,
                allow_offline_access=new.allow_offline_access,
                signing_alg=new.signing_alg,
            )
        self._on_change()  # its audience may be remembered as unknown
        return api

    def get(self, id_or_identifier: str) -> Api:
        """The API with this id, else with this identifier."""
        api = None
        if 0 < len(id_or_identifier) <= MAX_IDENTIFIER:
            api = self._applications.api_by_id(id_or_identifier)
            if api is None:
                api = self._applications.api_by_identifier(id_or_identifier)
        if api is None:
            raise _not_found()
        return api

    def page(self, paging: Paging) -> list[dict[str, Any]] | dict[str, Any]:
        """One page of the APIs in creation order, in Auth0's list shape."""
        found = self._applications.list_apis(offset=paging.start, limit=paging.per_page)
        shown = [resource_server_json(api) for api in found]
        return paging.envelope("resource_servers", shown, self._applications.count_apis)

    def all(self) -> list[Api]:
        return self._applications.list_apis()

    def update(self, id_or_identifier: str, change: ResourceServerChange) -> Api:
        api = self.get(id_or_identifier)
        if api.is_system:
            refused = [name for name in change.changes() if name not in SYSTEM_SETTINGS]
            if refused:
                raise BadRequest(
                    f"Payload validation error: 'Additional properties not allowed: "
                    f"{', '.join(refused)}' (the system resource server takes "
                    f"{', '.join(SYSTEM_SETTINGS)} only).",
                    code="invalid_body",
                )
        with _refused():
            updated = self._applications.update_api(
                api.id,
                name=change.name,
                scopes=change.scopes,
                token_lifetime=change.token_lifetime,
                allow_offline_access=change.allow_offline_access,
                signing_alg=change.signing_alg,
            )
        if updated is None:  # deleted meanwhile
            raise _not_found()
        self._on_change()
        return updated

    def delete(self, id_or_identifier: str) -> Api:
        """Delete an API and its client grants; returns what it was."""
        api = self.get(id_or_identifier)
        if api.is_system:
            raise BadRequest(
                "The system resource server (the Management API) cannot be deleted",
                code="operation_not_supported",
            )
        if not self._applications.delete_api(api.id):
            raise _not_found()
        self._on_change()
        return api
