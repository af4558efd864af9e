"""The records a token request names, found without blocking the event loop.

A request names its client (``client_id``), its connection (``realm``, or the tenant's
default directory for the ``password`` grant) and its API (``audience``): keys the sender
chooses freely. Each record is cached, found ones for a few seconds and unknown keys for
:data:`NEGATIVE_TTL_S` (at most :data:`NEGATIVE_SIZE` of them, apart from the found ones),
so a change made by the CLI is seen within 2 seconds. :meth:`RequestRecords.cached`
answers from the caches alone; when a record is not cached, the caller runs
:meth:`RequestRecords.load` in the I/O pool, which reads every missing record in that one
hop. Reads stop at the first record that decides the request: an unknown client, a client
that may not use the grant, an unknown realm. A key longer than any stored one names
nothing and is not looked up. A ``client_credentials`` request also names the client's
grant for its API, kept for :data:`GRANT_TTL_S` found or not: a new, changed or deleted
grant takes effect within that time on every worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal, NamedTuple, TypeVar

from passgate.domain.login import LoginAttempt, RequestContext
from passgate.domain.models import PASSWORD_REALM, Api, Client, ClientGrant, Connection
from passgate.errors import CONNECTION_NOT_ENABLED, AccessDenied, InvalidRequest, UnauthorizedClient
from passgate.storage.limits import max_length
from passgate.storage.schema import apis, connections
from passgate.storage.tenant import DEFAULT_DIRECTORY
from passgate.support.cache import MISS, Miss, TtlCache

__all__ = [
    "GRANT_TTL_S",
    "MAX_AUDIENCE",
    "NEGATIVE_SIZE",
    "NEGATIVE_TTL_S",
    "Records",
    "RequestRecords",
    "Wanted",
    "grant_cache",
    "record_cache",
]

#: How long an unknown client, connection or API is remembered as unknown.
NEGATIVE_TTL_S = 1.0
#: How many unknown keys of each kind are remembered (the newest).
NEGATIVE_SIZE = 10_000
#: How long a client grant (or its absence) is remembered.
GRANT_TTL_S = 1.0
#: The longest ``audience`` accepted (an API identifier's column).
MAX_AUDIENCE = max_length(apis.c.identifier) or 600
_MAX_REALM = max_length(connections.c.name) or 128

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclasses.dataclass(frozen=True, slots=True)
class Wanted:
    """What one request names. ``grant`` None: the client only (a revocation)."""

    client_id: str
    grant: str | None = None
    #: The realm named (``password-realm``); None with ``password``: the default directory.
    realm: str | None = None
    audience: str | None = None

    @classmethod
    def of(cls, grant: str | None, params: Mapping[str, str], client_id: str) -> Wanted:
        """What a token request with these (non-blank) parameters names."""
        if grant == "refresh_token":  # its API is the refresh token's, read with it
            return cls(client_id, grant)
        realm = params.get("realm") if grant == PASSWORD_REALM else None
        return cls(client_id, grant, realm, params.get("audience"))

    @property
    def connection_named(self) -> bool:
        return self.grant == "password" or (self.grant == PASSWORD_REALM and bool(self.realm))


class Records(NamedTuple):
    """The records found; None where a record is unknown or was not needed."""

    client: Client | None
    #: The connection's name asked for (the default directory's, for ``password``).
    realm: str | None = None
    connection: Connection | None = None
    api: Api | None = None
    #: The client's grant for ``api`` (read for ``client_credentials`` only).
    client_grant: ClientGrant | None = None

    def connection_for(self, client_id: str, fields: dict[str, Any]) -> Connection:
        """The connection named, once ``fields`` (the event's) name it; raise when it is
        unknown (400) or not enabled for the client (403 ``unauthorized_client``)."""
        if self.connection is None:
            raise InvalidRequest(f"Unknown realm: {(self.realm or '')[:128]}")
        fields["connection"] = self.connection.name
        if not self.connection.enabled_for(client_id):
            raise UnauthorizedClient(CONNECTION_NOT_ENABLED)
        return self.connection

    def login_attempt(self, identifier: str, context: RequestContext) -> LoginAttempt:
        """A password login against the connection (its brute-force switch with it)."""
        assert self.connection is not None
        connection = self.connection
        return LoginAttempt(
            identifier=identifier,
            connection=connection.name,
            context=context,
            brute_force=connection.brute_force_protection,
        )

    def api_for(self, audience: str | None) -> Api | None:
        """The API ``audience`` names (None when not sent); raise when it names none."""
        if audience is None:
            return None
        if len(audience) > MAX_AUDIENCE:
            raise InvalidRequest("The audience parameter is too long")
        if self.api is None or self.api.identifier != audience:
            raise AccessDenied(f"Service not found: {audience}")
        return self.api


GrantKey = tuple[str, str]  # (client_id, api id)


class RequestRecords:
    """Clients, connections, APIs, client grants and the default directory, cached for
    token requests."""

    def __init__(
        self,
        *,
        clients: TtlCache[str, Client | None],
        connections: TtlCache[str, Connection | None],
        apis: TtlCache[str, Api | None],
        grants: TtlCache[GrantKey, ClientGrant | None],
        default_directory: TtlCache[str, str],
    ) -> None:
        self._clients = clients
        self._connections = connections
        self._apis = apis
        self._grants = grants
        self._default_directory = default_directory

    def cached(self, wanted: Wanted) -> Records | None:
        """The records from the caches, or None when one is not cached. Never blocks."""
        return self._find(wanted, load=False)

    def load(self, wanted: Wanted) -> Records:
        """The records, read from the database where not cached. Blocks: run it off the
        event loop (one hop for them all)."""
        records = self._find(wanted, load=True)
        assert records is not None
        return records

    def forget_connections(self) -> None:
        """Read connections afresh (one was changed in this process)."""
        self._connections.clear()

    def enabled(self, connection_name: str, client_id: str) -> bool:
        """Whether the client may use the connection (blocking on a cache miss): a
        client no longer enabled for a user's connection loses its refresh tokens too."""
        if len(connection_name) > _MAX_REALM:
            return False
        connection = self._connections.get(connection_name)
        return connection is not None and connection.enabled_for(client_id)

    def api(self, audience: str) -> Api | None:
        """The API of ``audience`` (blocking on a cache miss)."""
        return self._apis.get(audience) if len(audience) <= MAX_AUDIENCE else None

    def _find(self, wanted: Wanted, *, load: bool) -> Records | None:
        client = _read(self._clients, wanted.client_id, load)
        if client is MISS:
            return None
        if client is None or wanted.grant not in client.grant_types:
            return Records(client)
        realm: str | None = None
        connection: Connection | None = None
        if wanted.connection_named:
            realm = wanted.realm
            if realm is None:  # the password grant's: the default directory
                default = _read(self._default_directory, DEFAULT_DIRECTORY, load)
                if default is MISS:
                    return None
                realm = default
            if len(realm) > _MAX_REALM:  # names no connection
                return Records(client, realm)
            found = _read(self._connections, realm, load)
            if found is MISS:
                return None
            if found is None:  # the request stops at its unknown realm
                return Records(client, realm)
            connection = found
        api: Api | None = None
        if wanted.audience is not None and len(wanted.audience) <= MAX_AUDIENCE:
            found_api = _read(self._apis, wanted.audience, load)
            if found_api is MISS:
                return None
            api = found_api
        grant: ClientGrant | None = None
        if api is not None and wanted.grant == "client_credentials":
            found_grant = _read(self._grants, (client.client_id, api.id), load)
            if found_grant is MISS:
                return None
            grant = found_grant
        return Records(client, realm, connection, api, grant)


def record_cache(load: Callable[[str], V | None], *, ttl: float = 2.0) -> TtlCache[str, V | None]:
    """A cache of records by key that keeps unknown keys apart, for a shorter time."""
    return TtlCache(load, ttl=ttl, negative_ttl=NEGATIVE_TTL_S, negative_size=NEGATIVE_SIZE)


def grant_cache(
    load: Callable[[str, str], ClientGrant | None],
) -> TtlCache[GrantKey, ClientGrant | None]:
    """Client grants by (client_id, api id), kept :data:`GRANT_TTL_S`, found or not."""
    return TtlCache(
        lambda key: load(*key),
        ttl=GRANT_TTL_S,
        negative_ttl=GRANT_TTL_S,
        negative_size=NEGATIVE_SIZE,
    )


def _read(cache: TtlCache[K, V], key: K, load: bool) -> V | Literal[Miss.MISS]:
    return cache.get(key) if load else cache.peek(key)
