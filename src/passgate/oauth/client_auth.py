"""Client authentication: ``none``, ``client_secret_post`` and ``client_secret_basic``.

Every failure (unknown client, wrong secret, wrong method, missing secret) gets one and
the same ``invalid_client`` answer, and costs the same digest-and-compare work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from passgate.domain.models import Client
from passgate.errors import InvalidClient, InvalidRequest
from passgate.oauth.request import BasicCredentials
from passgate.support.crypto import constant_time_equal

__all__ = ["AuthenticatedClient", "ClientAuthenticator"]

_DECOY_DIGEST = "0" * 64


@dataclasses.dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    client: Client
    #: The client proved itself with its secret in this request (not a public client).
    with_secret: bool


class ClientAuthenticator:
    def __init__(
        self, lookup: Callable[[str], Client | None], digest: Callable[[str], str]
    ) -> None:
        self._lookup = lookup
        self._digest = digest

    def authenticate(
        self, params: Mapping[str, str], basic: BasicCredentials | None
    ) -> AuthenticatedClient:
        client_id = params.get("client_id")
        secret = params.get("client_secret")
        method = "client_secret_post" if secret is not None else "none"
        if basic is not None:
            if secret is not None:
                raise InvalidRequest("Use only one client authentication method")
            if client_id is not None and client_id != basic.client_id:
                raise InvalidRequest("client_id does not match the authorization header")
            client_id, secret, method = basic.client_id, basic.client_secret, "client_secret_basic"
        if not client_id or len(client_id) > 128:
            raise InvalidClient(basic=basic is not None)
        client = self._lookup(client_id)
        expected = client.secret_digest if client is not None else None
        presented = self._digest(secret) if secret is not None else _DECOY_DIGEST
        matches = constant_time_equal(presented, expected or _DECOY_DIGEST)
        if client is None:
            raise InvalidClient(basic=basic is not None)
        wanted = client.token_endpoint_auth_method
        if wanted == "none":
            if secret is not None:
                raise InvalidClient(basic=basic is not None)
            return AuthenticatedClient(client=client, with_secret=False)
        if method != wanted or expected is None or not matches:
            raise InvalidClient(basic=basic is not None)
        return AuthenticatedClient(client=client, with_secret=True)
