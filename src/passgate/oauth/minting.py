"""Issuing tokens: JWT access tokens, OIDC ID tokens and the 200 response body."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from passgate.domain.models import Api, Client, User
from passgate.keys.ring import KeyRing
from passgate.oauth.scopes import GrantedScopes

__all__ = ["ID_TOKEN_LIFETIME", "Minter", "TokenSet", "userinfo_claims"]

ID_TOKEN_LIFETIME = 36000
#: Access tokens without an audience are good for /userinfo only.
USERINFO_TOKEN_LIFETIME = 86400


@dataclasses.dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = dataclasses.field(repr=False)
    expires_in: int
    scope: GrantedScopes
    id_token: str | None = dataclasses.field(default=None, repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.id_token is not None:
            out["id_token"] = self.id_token
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        if self.scope.narrowed:
            out["scope"] = self.scope.value
        return out


def userinfo_claims(user: User, scopes: GrantedScopes | tuple[str, ...]) -> dict[str, Any]:
    """The standard claims a token's scopes release, besides ``sub``: the profile under
    ``profile`` (``name`` and ``nickname`` default as Auth0's do; ``given_name``,
    ``family_name`` and ``picture`` only when given), the email under ``email``."""
    has = scopes.has if isinstance(scopes, GrantedScopes) else scopes.__contains__
    claims: dict[str, Any] = {"sub": user.id}
    if has("profile"):
        profile = user.profile
        claims["name"] = user.name or user.email
        if profile.given_name:
            claims["given_name"] = profile.given_name
        if profile.family_name:
            claims["family_name"] = profile.family_name
        claims["nickname"] = profile.nickname or user.username or user.email.split("@", 1)[0]
        if profile.picture:
            claims["picture"] = profile.picture
        claims["updated_at"] = (
            datetime.fromtimestamp(user.updated_at, UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
        if user.username:
            claims["preferred_username"] = user.username
    if has("email"):
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims


class Minter:
    def __init__(self, keys: KeyRing, issuer: str) -> None:
        self._keys = keys
        self.issuer = issuer
        self.userinfo_audience = issuer + "userinfo"

    def access_token(
        self,
        *,
        subject: str,
        client: Client,
        api: Api | None,
        scopes: GrantedScopes,
        now: int,
        grant: str,
    ) -> tuple[str, int]:
        audiences: list[str] = []
        if api is not None:
            audiences.append(api.identifier)
        if api is None or scopes.has("openid"):
            audiences.append(self.userinfo_audience)
        lifetime = api.token_lifetime if api is not None else USERINFO_TOKEN_LIFETIME
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "iat": now,
            "exp": now + lifetime,
            "scope": scopes.value,
            "azp": client.client_id,
            "gty": grant,
        }
        alg = api.signing_alg if api is not None else "RS256"
        return self._keys.sign(claims, alg), lifetime

    def id_token(self, *, user: User, client: Client, scopes: GrantedScopes, now: int) -> str:
        claims = userinfo_claims(user, scopes)
        claims.update(
            {
                "iss": self.issuer,
                "aud": client.client_id,
                "iat": now,
                "exp": now + ID_TOKEN_LIFETIME,
                "azp": client.client_id,
            }
        )
        return self._keys.sign(claims, "RS256")
