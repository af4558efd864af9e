"""Clients (applications), as the Management API's ``/clients`` and ``passgate clients``
manage them.

Dataclasses come in (``from_body`` reads Auth0's JSON bodies, refusing what Auth0
refuses); :class:`~passgate.domain.models.Client` records go out, shown in Auth0's shape
by :func:`client_json`. The rules of a client's settings are the store's
(``storage.applications.validate_client``): a refused one is a
:class:`~passgate.management.errors.SettingRefused` in the rule's own words. A client's
secret is made by passgate, stored as a digest and shown once: in the answer that made
it (create, rotate-secret, and to the CLI when a public client becomes confidential).

Every method reads or writes the database: run it off the event loop. A change is seen
by the token endpoint of this process at once (``on_change`` clears its caches), by the
others within the records' cache time (two seconds).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from passgate.domain.models import Client, ClientProfile
from passgate.errors import NotFound
from passgate.management.client_profile import PROFILE_FIELDS, profile_fields, profile_json
from passgate.management.errors import InvalidBody, SettingRefused
from passgate.management.listing import FieldSelection, Paging
from passgate.management.payload import body_object, optional_string, required_string, string_list
from passgate.storage.applications import Applications, InvalidConfiguration
from passgate.storage.limits import max_length
from passgate.storage.schema import clients

__all__ = [
    "CLIENT_FIELDS",
    "ClientChange",
    "ClientPage",
    "ClientQuery",
    "ClientsService",
    "NewClient",
    "client_json",
]

MAX_NAME = max_length(clients.c.name) or 256
MAX_CLIENT_ID = max_length(clients.c.client_id) or 64
#: The longest grant type named (the password-realm URI is 48 characters).
_MAX_GRANT_TYPE = 100
#: Auth0's settings passgate has one value for: a body may send that value, no other.
FIXED = {"is_first_party": True, "oidc_conformant": True}
#: The fields a client is shown with (never its secret: only create and rotate add it).
CLIENT_FIELDS = (
    "client_id",
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "is_token_endpoint_ip_header_trusted",
    *FIXED,
    *PROFILE_FIELDS,
    "created_at",
)
_SETTINGS = (
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "is_token_endpoint_ip_header_trusted",
)


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def client_json(client: Client, *, secret: str | None = None) -> dict[str, Any]:
    """``client`` in Auth0's shape; ``client_secret`` only when ``secret`` is given (the
    answers that made it)."""
    document: dict[str, Any] = {
        "client_id": client.client_id,
        "name": client.name,
        "app_type": client.app_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "is_token_endpoint_ip_header_trusted": client.is_token_endpoint_ip_header_trusted,
        **FIXED,
        **profile_json(client.profile),
        "created_at": _iso(client.created_at),
    }
    if secret is not None:
        document["client_secret"] = secret
    return document


def _payload_error(problem: str, name: str) -> InvalidBody:
    return InvalidBody(f"Payload validation error: '{problem}' on property {name}.")


def _boolean(fields: Mapping[str, Any], name: str) -> bool | None:
    if name not in fields:
        return None
    value = fields[name]
    if not isinstance(value, bool):
        raise _payload_error(f"Expected type boolean but found type {type(value).__name__}", name)
    return value


def _fixed(fields: Mapping[str, Any]) -> None:
    for name, value in FIXED.items():
        if name in fields and fields[name] is not value:
            raise _payload_error(f"passgate's clients are always {name}={str(value).lower()}", name)


def _grant_types(fields: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "grant_types" not in fields:
        return None
    return string_list(fields["grant_types"], "grant_types", max_item_length=_MAX_GRANT_TYPE)


@dataclasses.dataclass(frozen=True, slots=True)
class NewClient:
    """A client to make. Left out, the auth method follows the app type as Auth0's
    defaults do (``none`` for ``spa`` and ``native``), and so do the grant types
    (``client_credentials`` for ``non_interactive``, else ``password``)."""

    name: str
    app_type: str = "regular_web"
    token_endpoint_auth_method: str | None = None
    grant_types: tuple[str, ...] | None = None
    is_token_endpoint_ip_header_trusted: bool = False
    profile: ClientProfile = dataclasses.field(default_factory=ClientProfile)

    @classmethod
    def from_body(cls, body: object) -> NewClient:
        """The client a ``POST /clients`` body asks for (400 ``invalid_body`` else)."""
        fields = body_object(body, (*_SETTINGS, *FIXED, *PROFILE_FIELDS))
        _fixed(fields)
        return cls(
            name=required_string(fields, "name", max_length=MAX_NAME),
            app_type=optional_string(fields, "app_type", max_length=40) or "regular_web",
            token_endpoint_auth_method=optional_string(
                fields, "token_endpoint_auth_method", max_length=40
            ),
            grant_types=_grant_types(fields),
            is_token_endpoint_ip_header_trusted=bool(
                _boolean(fields, "is_token_endpoint_ip_header_trusted")
            ),
            profile=ClientProfile(**profile_fields(fields)),
        )

    @property
    def auth_method(self) -> str:
        if self.token_endpoint_auth_method is not None:
            return self.token_endpoint_auth_method
        return "none" if self.app_type in ("spa", "native") else "client_secret_post"

    @property
    def grants(self) -> tuple[str, ...]:
        if self.grant_types is not None:
            return self.grant_types
        return ("client_credentials",) if self.app_type == "non_interactive" else ("password",)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientChange:
    """What a ``PATCH /clients/{id}`` changes; None: left as it is."""

    name: str | None = None
    app_type: str | None = None
    token_endpoint_auth_method: str | None = None
    grant_types: tuple[str, ...] | None = None
    is_token_endpoint_ip_header_trusted: bool | None = None
    #: The profile fields named (an empty value clears one).
    profile: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_body(cls, body: object) -> ClientChange:
        fields = body_object(body, (*_SETTINGS, *FIXED, *PROFILE_FIELDS))
        _fixed(fields)
        return cls(
            name=optional_string(fields, "name", max_length=MAX_NAME),
            app_type=optional_string(fields, "app_type", max_length=40),
            token_endpoint_auth_method=optional_string(
                fields, "token_endpoint_auth_method", max_length=40
            ),
            grant_types=_grant_types(fields),
            is_token_endpoint_ip_header_trusted=_boolean(
                fields, "is_token_endpoint_ip_header_trusted"
            ),
            profile=profile_fields(fields),
        )

    def changes(self) -> dict[str, Any]:
        """The settings this change gives (for the audit event)."""
        found = {name: getattr(self, name) for name in _SETTINGS}
        found.update(self.profile)
        if "client_metadata" in self.profile:
            found["client_metadata"] = dict(self.profile["client_metadata"])
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in found.items()
            if value is not None
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ClientQuery:
    """A ``GET /clients``: paging, field selection, and only these ``app_type``s."""

    paging: Paging = dataclasses.field(default_factory=Paging)
    fields: FieldSelection = dataclasses.field(default_factory=FieldSelection)
    app_types: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> ClientQuery:
        raw = query.get("app_type")
        app_types = tuple(t.strip() for t in str(raw).split(",") if t.strip()) if raw else ()
        return cls(Paging.from_query(query), FieldSelection.from_query(query), app_types)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientPage:
    clients: list[Client]
    query: ClientQuery
    #: The count of every client the query selects, when ``include_totals`` asks for it.
    total: Callable[[], int]

    def to_json(self) -> list[dict[str, Any]] | dict[str, Any]:
        shown = [self.query.fields.apply(client_json(client)) for client in self.clients]
        return self.query.paging.envelope("clients", shown, self.total)


def client_not_found() -> NotFound:
    return NotFound("The client does not exist", code="inexistent_client")


class ClientsService:
    def __init__(
        self, applications: Applications, *, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._applications = applications
        self._on_change = on_change

    def create(self, new: NewClient) -> tuple[Client, str | None]:
        """Make a client; returns it and its secret (None for a public client)."""
        with _refused():
            made = self._applications.create_client(
                name=new.name,
                app_type=new.app_type,
                auth_method=new.auth_method,
                grant_types=new.grants,
                trusted=new.is_token_endpoint_ip_header_trusted,
                profile=new.profile,
            )
        self._on_change()  # an unknown client_id may be remembered as unknown
        return made

    def get(self, client_id: str) -> Client:
        client = (
            self._applications.get_client(client_id) if len(client_id) <= MAX_CLIENT_ID else None
        )
        if client is None:
            raise client_not_found()
        return client

    def page(self, query: ClientQuery) -> ClientPage:
        """Clients in creation order, one page of them."""
        paging = query.paging
        found = self._applications.list_clients(
            offset=paging.start, limit=paging.per_page, app_types=query.app_types
        )
        return ClientPage(
            found, query, lambda: self._applications.count_clients(app_types=query.app_types)
        )

    def all(self) -> list[Client]:
        return self._applications.list_clients()

    def update(self, client_id: str, change: ClientChange) -> tuple[Client, str | None]:
        """Change a client's settings, checked together; returns the client and, when it
        turned from public into confidential, its new secret."""
        self.get(client_id)
        with _refused():
            done = self._applications.update_client(
                client_id,
                name=change.name,
                app_type=change.app_type,
                auth_method=change.token_endpoint_auth_method,
                grant_types=change.grant_types,
                trusted=change.is_token_endpoint_ip_header_trusted,
                profile=change.profile,
            )
        if done is None:  # deleted meanwhile
            raise client_not_found()
        self._on_change()
        return done

    def rotate_secret(self, client_id: str) -> tuple[Client, str]:
        """A new secret for a confidential client: the old one stops working at once (in
        this process; in the others within the cache time)."""
        client = self.get(client_id)
        with _refused():
            secret = self._applications.rotate_secret(client_id)
        self._on_change()
        return client, secret

    def delete(self, client_id: str) -> Client:
        """Delete a client and its client grants; returns what it was. Its tokens already
        issued stay valid until they expire; its refresh tokens no longer work."""
        client = self.get(client_id)
        if not self._applications.delete_client(client_id):
            raise client_not_found()
        self._on_change()
        return client


@contextlib.contextmanager
def _refused() -> Iterator[None]:
    """Turns the store's refusal of a setting into :class:`SettingRefused`."""
    try:
        yield
    except InvalidConfiguration as exc:
        raise SettingRefused(str(exc)) from None
