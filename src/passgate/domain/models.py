"""Records the stores return: frozen, typed, free of secrets (digests at most)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "APP_TYPES",
    "AUTH_METHODS",
    "GRANT_TYPES",
    "Api",
    "AppType",
    "AuthMethod",
    "Client",
    "ClientGrant",
    "ClientProfile",
    "Connection",
    "RefreshToken",
    "SigningKey",
    "User",
    "UserProfile",
]

AppType = Literal["regular_web", "non_interactive", "spa", "native"]
AuthMethod = Literal["none", "client_secret_post", "client_secret_basic"]
APP_TYPES: tuple[str, ...] = ("regular_web", "non_interactive", "spa", "native")
AUTH_METHODS: tuple[str, ...] = ("none", "client_secret_post", "client_secret_basic")
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
GRANT_TYPES: tuple[str, ...] = ("password", PASSWORD_REALM, "refresh_token", "client_credentials")


@dataclasses.dataclass(frozen=True, slots=True)
class Connection:
    """A database connection (Auth0's strategy ``auth0``): its ``options`` as stored
    (:mod:`passgate.domain.connection_options` reads them) and the clients that may use it."""

    id: str
    name: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    enabled_clients: tuple[str, ...] = ()
    display_name: str | None = None
    strategy: str = "auth0"

    def enabled_for(self, client_id: str) -> bool:
        return client_id in self.enabled_clients

    @property
    def brute_force_protection(self) -> bool:
        """Auth0's per-connection switch (absent: on)."""
        return self.options.get("brute_force_protection") is not False


@dataclasses.dataclass(frozen=True, slots=True)
class UserProfile:
    """What a user told about themselves at sign-up, beside ``User.name`` (Auth0's root
    attributes and ``user_metadata``); None / empty when not given. Checked by
    :mod:`passgate.domain.profiles` before it is stored."""

    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    user_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: str
    connection_id: str
    connection: str
    email: str
    username: str | None
    email_verified: bool
    name: str | None
    blocked: bool
    password_leaked: bool
    password_changed_at: float
    created_at: float
    updated_at: float
    profile: UserProfile = dataclasses.field(default_factory=UserProfile)
    #: What administrators keep about the user (Auth0's ``app_metadata``): set through the
    #: Management API only; not read on the login path (empty there).
    app_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientProfile:
    """What a client says about itself, in Auth0's names: stored and shown, never acted
    on (passgate has no redirect-based flow that would use the URLs)."""

    description: str = ""
    logo_uri: str = ""
    callbacks: tuple[str, ...] = ()
    allowed_logout_urls: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    client_metadata: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    app_type: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    is_token_endpoint_ip_header_trusted: bool
    secret_digest: str | None = dataclasses.field(repr=False)
    created_at: float
    profile: ClientProfile = dataclasses.field(default_factory=ClientProfile)

    @property
    def is_confidential(self) -> bool:
        return self.token_endpoint_auth_method != "none"


@dataclasses.dataclass(frozen=True, slots=True)
class Api:
    id: str
    identifier: str
    name: str
    scopes: tuple[str, ...]
    token_lifetime: int
    allow_offline_access: bool
    signing_alg: str
    #: passgate's own API (the Management API): it cannot be deleted, and its identifier
    #: follows the issuer (Auth0's ``is_system``).
    is_system: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ClientGrant:
    """A client's permission to get client-credentials tokens for one API, with at most
    ``scope`` (Auth0's client grant). ``audience`` is the API's identifier as it is now."""

    id: str
    client_id: str
    api_id: str
    audience: str
    scope: tuple[str, ...]
    created_at: float
    updated_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshToken:
    token_digest: str
    family_id: str
    client_id: str
    user_id: str
    audience: str | None
    scope: str
    created_at: float
    expires_at: float
    used_at: float | None
    revoked_at: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class SigningKey:
    """A signing key as stored: its private JWK sealed under the key-encryption key
    ``kek_id`` (see :mod:`passgate.support.key_encryption`), or plain JSON when ``kek_id`` is None
    (written before keys were encrypted; sealed by the next start)."""

    kid: str
    alg: str
    private_jwk: str = dataclasses.field(repr=False)
    created_at: float
    retired_at: float | None
    kek_id: str | None = None
    #: Revoked: no longer published, and what it signed is refused.
    revoked_at: float | None = None
