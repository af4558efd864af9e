"""Client grants, as the Management API's ``/client-grants`` and ``passgate client-grants``
manage them: which client may get client-credentials tokens for which API, with which
scopes.

Plain dataclasses come in (``from_body`` / ``from_query`` read Auth0's JSON bodies and
query strings, refusing what Auth0 refuses); Auth0-shaped dicts go out; refusals are
:class:`~passgate.errors.ManagementError` (400, 404, 409), each with Auth0's ``errorCode``.
Every method reads or writes the database: run it off the event loop. A change is seen by
the token endpoint of this process at once (``on_change``), by the others within
:data:`~passgate.oauth.records.GRANT_TTL_S`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from passgate.domain.models import Api, ClientGrant
from passgate.errors import BadRequest, Conflict, NotFound
from passgate.management.payload import (
    body_object,
    optional_string,
    query_bool,
    query_error,
    query_int,
    query_string,
    query_values,
    required_string,
    string_list,
)
from passgate.storage.applications import Applications
from passgate.storage.client_grants import ClientGrants, GrantExists, GrantFilter, GrantTargetGone
from passgate.storage.limits import max_length
from passgate.storage.schema import apis, clients

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "ClientGrantChange",
    "ClientGrantQuery",
    "ClientGrantsService",
    "NewClientGrant",
    "grant_json",
]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
_MAX_CLIENT_ID = max_length(clients.c.client_id) or 64
_MAX_AUDIENCE = max_length(apis.c.identifier) or 600
#: The longest scope an API may define (``Applications.create_api``).
_MAX_SCOPE = 280
#: The grant's id in a path or query (ours are 23 characters).
_MAX_GRANT_ID = 40


def grant_json(grant: ClientGrant) -> dict[str, Any]:
    """A grant as Auth0 shows it: only for a client (``subject_type``), none of them a
    grant of Auth0's own making (``is_system``)."""
    return {
        "id": grant.id,
        "client_id": grant.client_id,
        "audience": grant.audience,
        "scope": list(grant.scope),
        "is_system": False,
        "subject_type": "client",
    }


@dataclasses.dataclass(frozen=True, slots=True)
class NewClientGrant:
    client_id: str
    audience: str
    scope: tuple[str, ...]

    @classmethod
    def from_body(cls, body: object) -> NewClientGrant:
        """The grant a ``POST /client-grants`` body asks for (400 ``invalid_body`` else)."""
        fields = body_object(body, ("client_id", "audience", "scope", "subject_type"))
        client_id = required_string(fields, "client_id", max_length=_MAX_CLIENT_ID)
        audience = required_string(fields, "audience", max_length=_MAX_AUDIENCE)
        _client_subject_only(fields)
        if "scope" not in fields:
            raise BadRequest(
                "Payload validation error: 'Missing required property: scope'.",
                code="invalid_body",
            )
        scope = string_list(fields["scope"], "scope", max_item_length=_MAX_SCOPE)
        return cls(client_id=client_id, audience=audience, scope=scope)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientGrantChange:
    """What a ``PATCH /client-grants/{id}`` changes; None: left as it is."""

    scope: tuple[str, ...] | None = None

    @classmethod
    def from_body(cls, body: object) -> ClientGrantChange:
        fields = body_object(body, ("scope",))
        if "scope" not in fields:
            return cls()
        return cls(scope=string_list(fields["scope"], "scope", max_item_length=_MAX_SCOPE))


def _client_subject_only(fields: Mapping[str, Any]) -> None:
    subject = optional_string(fields, "subject_type", max_length=20)
    if subject is not None and subject != "client":
        raise BadRequest(
            "Payload validation error: 'No enum match for: "
            f'"{subject}" (passgate grants clients only)\' on property subject_type.',
            code="invalid_body",
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ClientGrantQuery:
    """A ``GET /client-grants``: filters, then offset paging (``page``, ``per_page``,
    ``include_totals``) or checkpoint paging (``from``, ``take``)."""

    client_id: str | None = None
    audience: str | None = None
    page: int = 0
    per_page: int = DEFAULT_PER_PAGE
    include_totals: bool = False
    from_id: str | None = None
    take: int | None = None

    @property
    def checkpoint(self) -> bool:
        return self.from_id is not None or self.take is not None

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]]) -> ClientGrantQuery:
        """The query string's parameters, as (name, value) pairs in order (a repeated one
        is refused); 400 ``invalid_query_string`` for what Auth0 would refuse."""
        values = query_values(
            pairs,
            ("client_id", "audience", "page", "per_page", "include_totals", "from", "take"),
        )
        # include_totals goes with either: Auth0's Python SDK sends include_totals=true with
        # take and from, and reads {client_grants, next}.
        offset_paging = {"page", "per_page"} & set(values)
        checkpoint_paging = {"from", "take"} & set(values)
        if offset_paging and checkpoint_paging:
            raise query_error(
                f"{sorted(checkpoint_paging)[0]} (checkpoint paging) cannot be combined "
                f"with {sorted(offset_paging)[0]} (offset paging)"
            )
        return cls(
            client_id=query_string(values, "client_id"),
            audience=query_string(values, "audience"),
            page=query_int(values, "page", default=0, low=0, high=10**9),
            per_page=query_int(
                values, "per_page", default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE
            ),
            include_totals=query_bool(values, "include_totals"),
            from_id=query_string(values, "from"),
            take=(
                query_int(values, "take", default=DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
                if checkpoint_paging
                else None
            ),
        )


class ClientGrantsService:
    def __init__(
        self,
        *,
        applications: Applications,
        grants: ClientGrants,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._applications = applications
        self._grants = grants
        self._on_change = on_change

    def create(self, new: NewClientGrant) -> dict[str, Any]:
        """Grant ``new.client_id`` the API ``new.audience`` with ``new.scope``: 404 when
        either does not exist, 400 for a scope the API does not define, 409 when the
        client has a grant for that API already."""
        if not self._client_exists(new.client_id):
            raise NotFound(
                f"No client with client_id {_shown(new.client_id)}", code="inexistent_client"
            )
        api = self._api(new.audience)
        scope = _checked_scope(new.scope, api)
        try:
            grant = self._grants.create(client_id=new.client_id, api_id=api.id, scope=scope)
        except GrantExists:
            raise Conflict(
                f"A client grant already exists between {new.client_id} and {api.identifier}"
            ) from None
        except GrantTargetGone:
            raise NotFound(
                "The client or the API was deleted while the grant was being created",
                code="inexistent_client",
            ) from None
        self._on_change()
        return grant_json(grant)

    def get(self, grant_id: str) -> dict[str, Any]:
        return grant_json(self._grant(grant_id))

    def list_grants(self, query: ClientGrantQuery) -> list[dict[str, Any]] | dict[str, Any]:
        """The grants ``query`` asks for, in creation order: a bare array; with
        ``include_totals``, ``{start, limit, total, client_grants}``; with checkpoint paging,
        ``{client_grants, next}`` (``next`` absent on the last page)."""
        which = GrantFilter(client_id=query.client_id, audience=query.audience)
        if query.checkpoint:
            take = query.take or DEFAULT_PER_PAGE
            found = self._grants.page(which, limit=take + 1, from_id=query.from_id)
            document: dict[str, Any] = {"client_grants": [grant_json(g) for g in found[:take]]}
            if len(found) > take:
                document["next"] = found[take].id
            return document
        start = query.page * query.per_page
        page = [grant_json(g) for g in self._grants.page(which, limit=query.per_page, offset=start)]
        if not query.include_totals:
            return page
        total = self._grants.count(which)
        return {"start": start, "limit": query.per_page, "total": total, "client_grants": page}

    def update(self, grant_id: str, change: ClientGrantChange) -> dict[str, Any]:
        """Change a grant's scopes (400 for a scope its API does not define)."""
        grant = self._grant(grant_id)
        if change.scope is None:
            return grant_json(grant)
        api = self._api(grant.audience)
        updated = self._grants.set_scope(grant.id, _checked_scope(change.scope, api))
        if updated is None:  # deleted meanwhile
            raise _grant_not_found()
        self._on_change()
        return grant_json(updated)

    def delete(self, grant_id: str) -> None:
        """Delete a grant: the client gets no new token for its API (existing ones live on
        until they expire)."""
        if len(grant_id) > _MAX_GRANT_ID or not self._grants.delete(grant_id):
            raise _grant_not_found()
        self._on_change()

    # -- lookups -------------------------------------------------------------------
    def _client_exists(self, client_id: str) -> bool:
        return len(client_id) <= _MAX_CLIENT_ID and (
            self._applications.get_client(client_id) is not None
        )

    def _api(self, audience: str) -> Api:
        api = (
            self._applications.api_by_identifier(audience)
            if len(audience) <= _MAX_AUDIENCE
            else None
        )
        if api is None:
            raise NotFound(
                f"No resource with identifier {_shown(audience)}",
                code="inexistent_resource_server",
            )
        return api

    def _grant(self, grant_id: str) -> ClientGrant:
        grant = self._grants.get(grant_id) if len(grant_id) <= _MAX_GRANT_ID else None
        if grant is None:
            raise _grant_not_found()
        return grant


def _grant_not_found() -> NotFound:
    return NotFound("The client grant does not exist", code="inexistent_client_grant")


def _checked_scope(scope: Sequence[str], api: Api) -> tuple[str, ...]:
    """``scope`` when every one is distinct and defined by ``api``; else 400."""
    repeated = sorted({item for item in scope if scope.count(item) > 1})
    if repeated:
        raise BadRequest(
            f"Payload validation error: 'Array items are not unique ({repeated[0]})' "
            "on property scope.",
            code="invalid_body",
        )
    unknown = [item for item in scope if item not in api.scopes]
    if unknown:
        raise BadRequest(
            f"The resource server {api.identifier} does not define the scope"
            f"{'s' if len(unknown) > 1 else ''} {', '.join(_shown(s) for s in unknown[:5])}",
            code="invalid_body",
        )
    return tuple(scope)


def _shown(value: str, limit: int = 100) -> str:
    """``value`` for a message: shortened, so that a refusal never echoes a huge input."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
