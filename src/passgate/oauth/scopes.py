"""Scope and audience rules (pure)."""

from __future__ import annotations

import dataclasses

from passgate.domain.models import Api, ClientGrant
from passgate.errors import AccessDenied, InvalidRequest

__all__ = ["OIDC_SCOPES", "GrantedScopes", "client_grant_scopes", "grant_scopes", "split_scope"]

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_MAX_SCOPE_LENGTH = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class GrantedScopes:
    scopes: tuple[str, ...]
    #: The requested scope string differs from what was granted (then ``scope`` is returned).
    narrowed: bool

    @property
    def value(self) -> str:
        return " ".join(self.scopes)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def split_scope(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    if len(raw) > _MAX_SCOPE_LENGTH:
        raise InvalidRequest("The scope parameter is too long")
    return tuple(dict.fromkeys(part for part in raw.split(" ") if part))


def grant_scopes(requested_raw: str | None, api: Api | None) -> GrantedScopes:
    """What a user's token gets: requested OIDC scopes, plus the API's scopes.

    With an audience and no API scope requested, every scope the API defines is granted.
    Requested scopes the API does not define are dropped (and ``scope`` is then returned).
    The Management API's scopes are never a user's: only client grants give them.
    """
    requested = split_scope(requested_raw)
    oidc = [s for s in requested if s in OIDC_SCOPES]
    asked_api = [s for s in requested if s not in OIDC_SCOPES]
    if api is None or api.is_system:
        api_scopes: list[str] = []
    elif asked_api:
        api_scopes = [s for s in asked_api if s in api.scopes]
    else:
        api_scopes = list(api.scopes)
    granted = tuple(oidc + api_scopes)
    return GrantedScopes(scopes=granted, narrowed=granted != requested)


def client_grant_scopes(
    requested_raw: str | None, api: Api, grant: ClientGrant | None, client_id: str
) -> GrantedScopes:
    """What a client-credentials token gets: the requested API scopes that the client's
    grant holds (and the API still defines); with none requested, all of those.

    Without a grant the client gets nothing (403 ``access_denied``, Auth0's words). OpenID
    Connect scopes name no API scope and are dropped, as before client grants. When API
    scopes are requested and the grant holds none of them, the request is refused too
    (Auth0's words again) rather than answered with a token without scopes.
    """
    if grant is None:
        raise AccessDenied(
            f'Client "{client_id}" is not authorized to access resource server '
            f'"{api.identifier}". You need to create a "client-grant" associated to this API.'
        )
    requested = split_scope(requested_raw)
    allowed = [scope for scope in grant.scope if scope in api.scopes]
    asked = [scope for scope in requested if scope not in OIDC_SCOPES]
    if not asked:
        granted = tuple(allowed)
    else:
        granted = tuple(scope for scope in asked if scope in allowed)
        if not granted:
            raise AccessDenied(f"Client has not been granted scopes: {' '.join(asked)}")
    return GrantedScopes(scopes=granted, narrowed=granted != requested)
