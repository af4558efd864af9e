"""Client authentication: ``none``, ``client_secret_post`` and ``client_secret_basic``.

Every failure (unknown client, wrong secret, wrong method, missing secret) gets one and
the same ``invalid_client`` answer, and costs the same digest-and-compare work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from passgate.domain.client_ip import resolve_end_user_ip
from passgate.domain.models import Client
from passgate.errors import InvalidClient, InvalidRequest
from passgate.oauth.request import BasicCredentials
from passgate.support.crypto import constant_time_equal

__all__ = ["AuthenticatedClient", "ClientAuthenticator", "PresentedClient"]

_DECOY_DIGEST = "0" * 64


@dataclasses.dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    client: Client
    #: The client proved itself with its secret in this request (not a public client).
    with_secret: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PresentedClient:
    """Who a request says it is, and how it proves it (not checked yet)."""

    client_id: str
    secret: str | None = dataclasses.field(repr=False)
    method: str
    #: Sent with HTTP Basic (a refusal then asks for Basic again).
    basic: bool


class ClientAuthenticator:
    """Two steps, so that the client record can be read off the event loop between them:
    :meth:`presented` reads the request, :meth:`authenticate` checks it against the
    record."""

    def __init__(self, digest: Callable[[str], str]) -> None:
        self._digest = digest

    @staticmethod
    def presented(params: Mapping[str, str], basic: BasicCredentials | None) -> PresentedClient:
        """The client the request names; raise before any lookup when it names none."""
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
        return PresentedClient(client_id, secret, method, basic is not None)

    def authenticate(
        self, presented: PresentedClient, client: Client | None
    ) -> AuthenticatedClient:
        """Check the presented credentials against ``client`` (the record of
        ``presented.client_id``, None if there is none)."""
        secret = presented.secret
        basic = presented.basic
        expected = client.secret_digest if client is not None else None
        presented_digest = self._digest(secret) if secret is not None else _DECOY_DIGEST
        matches = constant_time_equal(presented_digest, expected or _DECOY_DIGEST)
        if client is None:
            raise InvalidClient(basic=basic)
        wanted = client.token_endpoint_auth_method
        if wanted == "none":
            if secret is not None:
                raise InvalidClient(basic=basic)
            return AuthenticatedClient(client=client, with_secret=False)
        if presented.method != wanted or expected is None or not matches:
            raise InvalidClient(basic=basic)
        return AuthenticatedClient(client=client, with_secret=True)


def end_user_ip(
    client_ip: str, header_values: tuple[str, ...], authenticated: AuthenticatedClient
) -> tuple[str, str | None]:
    """The end user's IP for a token request by ``authenticated``, and why a forwarded
    header was ignored (``None`` when it was not)."""
    client = authenticated.client
    resolution = resolve_end_user_ip(
        client_ip,
        list(header_values),
        authenticated_with_secret=authenticated.with_secret,
        auth_method=client.token_endpoint_auth_method,
        trusted=client.is_token_endpoint_ip_header_trusted,
    )
    return resolution.ip, resolution.note
