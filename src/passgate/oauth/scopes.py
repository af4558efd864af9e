"""Scope and audience rules (pure)."""

from __future__ import annotations

import dataclasses

from passgate.domain.models import Api
from passgate.errors import InvalidRequest

__all__ = ["OIDC_SCOPES", "GrantedScopes", "grant_scopes", "split_scope"]

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


def grant_scopes(
    requested_raw: str | None, api: Api | None, *, with_oidc: bool = True
) -> GrantedScopes:
    """What a token gets: requested OIDC scopes, plus the API's scopes.

    With an audience and no API scope requested, every scope the API defines is granted.
    Requested scopes the API does not define are dropped (and ``scope`` is then returned).
    """
    requested = split_scope(requested_raw)
    oidc = [s for s in requested if s in OIDC_SCOPES] if with_oidc else []
    asked_api = [s for s in requested if s not in OIDC_SCOPES]
    if api is None:
        api_scopes: list[str] = []
    elif asked_api:
        api_scopes = [s for s in asked_api if s in api.scopes]
    else:
        api_scopes = list(api.scopes)
    granted = tuple(oidc + api_scopes)
    return GrantedScopes(scopes=granted, narrowed=granted != requested)
