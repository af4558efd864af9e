"""Applications (OAuth clients) and APIs (resource servers)."""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from passgate.domain.management_api import (
    MANAGEMENT_API_NAME,
    MANAGEMENT_SCOPES,
    management_audience,
)
from passgate.domain.models import (
    APP_TYPES,
    AUTH_METHODS,
    GRANT_TYPES,
    Api,
    Client,
)
from passgate.errors import InvalidValue
from passgate.storage.limits import check_length, shorten
from passgate.storage.schema import apis, clients
from passgate.support.crypto import keyed_digest, new_id, new_secret

__all__ = ["Applications", "InvalidConfiguration"]

logger = logging.getLogger("passgate.storage")

SIGNING_ALGS = ("RS256", "ES256")
_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def _new_client_id() -> str:
    """32 letters and digits, like Auth0's: never starts with "-", which a command line
    would read as an option (about 190 bits, though a client id is not a secret)."""
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(32))


class InvalidConfiguration(InvalidValue):
    """An application or API setting was refused; nothing was changed."""


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        app_type=row.app_type,
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        grant_types=tuple(json.loads(row.grant_types)),
        is_token_endpoint_ip_header_trusted=bool(row.is_token_endpoint_ip_header_trusted),
        secret_digest=row.secret_digest,
        created_at=row.created_at,
    )


def _api(row: Any) -> Api:
    return Api(
        id=row.id,
        identifier=row.identifier,
        name=row.name,
        scopes=tuple(json.loads(row.scopes)),
        token_lifetime=row.token_lifetime,
        allow_offline_access=bool(row.allow_offline_access),
        signing_alg=row.signing_alg,
        is_system=bool(row.is_system),
    )


def validate_client(
    *, name: str, app_type: str, auth_method: str, grant_types: Sequence[str], trusted: bool
) -> None:
    if not name.strip():
        raise InvalidConfiguration("name must not be empty")
    check_length(clients.c.name, name, field="name")
    if app_type not in APP_TYPES:
        raise InvalidConfiguration(f"app_type must be one of {', '.join(APP_TYPES)}")
    if auth_method not in AUTH_METHODS:
        raise InvalidConfiguration(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}"
        )
    unknown = [grant for grant in grant_types if grant not in GRANT_TYPES]
    if unknown:
        raise InvalidConfiguration(
            f"unknown grant type {unknown[0]!r}; known: {', '.join(GRANT_TYPES)}"
        )
    if not grant_types:
        raise InvalidConfiguration("at least one grant type is needed")
    if trusted and auth_method == "none":
        raise InvalidConfiguration(
            "is_token_endpoint_ip_header_trusted needs a confidential client "
            "(token_endpoint_auth_method other than none)"
        )
    if "client_credentials" in grant_types and auth_method == "none":
        raise InvalidConfiguration("client_credentials needs a confidential client")


class Applications:
    def __init__(self, engine: sa.Engine, digest_key: bytes) -> None:
        self._engine = engine
        self._key = digest_key

    def secret_digest(self, secret: str) -> str:
        return keyed_digest(self._key, secret)

    # -- clients -------------------------------------------------------------------
    def create_client(
        self,
        *,
        name: str,
        app_type: str,
        auth_method: str,
        grant_types: Sequence[str],
        trusted: bool = False,
    ) -> tuple[Client, str | None]:
        """Create a client; returns it and its secret (shown once, stored as a digest)."""
        grant_types = list(dict.fromkeys(grant_types))
        validate_client(
            name=name,
            app_type=app_type,
            auth_method=auth_method,
            grant_types=grant_types,
            trusted=trusted,
        )
        secret = new_secret(32) if auth_method != "none" else None
        client_id = _new_client_id()
        with self._engine.begin() as connection:
            connection.execute(
                clients.insert().values(
                    client_id=client_id,
                    name=name,
                    app_type=app_type,
                    token_endpoint_auth_method=auth_method,
                    grant_types=json.dumps(grant_types),
                    is_token_endpoint_ip_header_trusted=trusted,
                    secret_digest=self.secret_digest(secret) if secret else None,
                    created_at=time.time(),
                )
            )
        client = self.get_client(client_id)
        assert client is not None
        return client, secret

    def get_client(self, client_id: str) -> Client | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(clients).where(clients.c.client_id == client_id)
            ).first()
        return None if row is None else _client(row)

    def list_clients(self) -> list[Client]:
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(clients).order_by(clients.c.created_at))
            return [_client(row) for row in rows]

    def rotate_secret(self, client_id: str) -> str:
        client = self.get_client(client_id)
        if client is None:
            raise InvalidConfiguration(f"no client with id {client_id!r}")
        if not client.is_confidential:
            raise InvalidConfiguration("a public client (auth method none) has no secret")
        secret = new_secret(32)
        with self._engine.begin() as connection:
            connection.execute(
                clients.update()
                .where(clients.c.client_id == client_id)
                .values(secret_digest=self.secret_digest(secret))
            )
        return secret

    def set_auth_method(self, client_id: str, method: str) -> tuple[Client, str | None]:
        """Change how a client authenticates at the token endpoint.

        Returns the client and, when it turns from public into confidential, its new
        secret (shown once, stored as a digest). Between ``client_secret_post`` and
        ``client_secret_basic`` the secret stays; a client made public (``none``) loses it.
        A public client cannot keep IP header trust or the client_credentials grant."""
        client = self.get_client(client_id)
        if client is None:
            raise InvalidConfiguration(f"no client with id {client_id!r}")
        if method == "none" and client.is_token_endpoint_ip_header_trusted:
            raise InvalidConfiguration(
                "a public client cannot be trusted with auth0-forwarded-for; "
                f"first run: passgate clients set-trust {client_id} --off"
            )
        validate_client(
            name=client.name,
            app_type=client.app_type,
            auth_method=method,
            grant_types=client.grant_types,
            trusted=client.is_token_endpoint_ip_header_trusted,
        )
        secret: str | None = None
        values: dict[str, Any] = {"token_endpoint_auth_method": method}
        if method == "none":
            values["secret_digest"] = None
        elif not client.is_confidential:
            secret = new_secret(32)
            values["secret_digest"] = self.secret_digest(secret)
        with self._engine.begin() as connection:
            connection.execute(
                clients.update().where(clients.c.client_id == client_id).values(**values)
            )
        updated = self.get_client(client_id)
        assert updated is not None
        return updated, secret

    def set_ip_header_trusted(self, client_id: str, trusted: bool) -> Client:
        client = self.get_client(client_id)
        if client is None:
            raise InvalidConfiguration(f"no client with id {client_id!r}")
        if trusted and not client.is_confidential:
            raise InvalidConfiguration(
                "is_token_endpoint_ip_header_trusted needs a confidential client"
            )
        with self._engine.begin() as connection:
            connection.execute(
                clients.update()
                .where(clients.c.client_id == client_id)
                .values(is_token_endpoint_ip_header_trusted=trusted)
            )
        updated = self.get_client(client_id)
        assert updated is not None
        return updated

    # -- APIs ----------------------------------------------------------------------
    def create_api(
        self,
        *,
        identifier: str,
        scopes: Sequence[str],
        name: str | None = None,
        token_lifetime: int = 86400,
        allow_offline_access: bool = False,
        signing_alg: str = "RS256",
    ) -> Api:
        check_length(apis.c.identifier, identifier, field="identifier")
        check_length(apis.c.name, name, field="name")
        parts = urlsplit(identifier)
        if not identifier or not (parts.scheme and parts.netloc):
            raise InvalidConfiguration("identifier must be an absolute URL (the audience)")
        for scope in scopes:
            if not scope or any(ch.isspace() for ch in scope) or len(scope) > 280:
                raise InvalidConfiguration(f"invalid scope {scope!r}")
            if scope in ("openid", "profile", "email", "offline_access"):
                raise InvalidConfiguration(f"{scope!r} is an OpenID Connect scope, not an API's")
        if not 60 <= token_lifetime <= 2592000:
            raise InvalidConfiguration("token_lifetime must be 60 to 2592000 seconds")
        if signing_alg not in SIGNING_ALGS:
            raise InvalidConfiguration(f"signing_alg must be one of {', '.join(SIGNING_ALGS)}")
        api_id = new_id("api_", 8)
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    apis.insert().values(
                        id=api_id,
                        identifier=identifier,
                        name=name or shorten(apis.c.name, identifier),
                        scopes=json.dumps(list(dict.fromkeys(scopes))),
                        token_lifetime=token_lifetime,
                        allow_offline_access=allow_offline_access,
                        signing_alg=signing_alg,
                        created_at=time.time(),
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise InvalidConfiguration(f"an API with identifier {identifier!r} exists") from exc
        api = self.api_by_identifier(identifier)
        assert api is not None
        return api

    def api_by_identifier(self, identifier: str) -> Api | None:
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(apis).where(apis.c.identifier == identifier)).first()
        return None if row is None else _api(row)

    def list_apis(self) -> list[Api]:
        with self._engine.connect() as connection:
            return [
                _api(row) for row in connection.execute(sa.select(apis).order_by(apis.c.created_at))
            ]

    def max_token_lifetime(self) -> int:
        with self._engine.connect() as connection:
            value = connection.execute(sa.select(sa.func.max(apis.c.token_lifetime))).scalar()
        return int(value or 86400)

    # -- the Management API --------------------------------------------------------
    def ensure_management_api(self, issuer: str) -> Api:
        """The Management API, made to match ``issuer``: created at the first start (or
        made of an API that already has its identifier), its identifier moved when the
        issuer changed, the scopes a newer passgate checks added. Several processes may do
        it at once: one insert wins, the others read it. Raises
        :class:`InvalidConfiguration` when another API holds the identifier it must take."""
        identifier = management_audience(issuer)
        try:
            return self._ensure_system_api(identifier)
        except sa.exc.IntegrityError:  # another process made it meanwhile
            return self._ensure_system_api(identifier)

    def _ensure_system_api(self, identifier: str) -> Api:
        with self._engine.begin() as connection:
            system = connection.execute(sa.select(apis).where(apis.c.is_system)).first()
            holder = connection.execute(
                sa.select(apis).where(apis.c.identifier == identifier)
            ).first()
            if system is None and holder is None:
                connection.execute(
                    apis.insert().values(
                        id=new_id("api_", 8),
                        identifier=identifier,
                        name=MANAGEMENT_API_NAME,
                        scopes=json.dumps(list(MANAGEMENT_SCOPES)),
                        token_lifetime=86400,
                        allow_offline_access=False,
                        signing_alg="RS256",
                        created_at=time.time(),
                        is_system=True,
                    )
                )
            elif system is None:
                assert holder is not None
                logger.warning(
                    "the API %s (%s) becomes the Management API: it has its identifier",
                    identifier,
                    holder.name,
                )
                self._update_system_api(connection, holder, name=MANAGEMENT_API_NAME)
            else:
                if system.identifier != identifier and holder is not None:
                    raise InvalidConfiguration(
                        f"the Management API's identifier follows the issuer and would be "
                        f"{identifier}, but another API ({holder.name}) has that identifier"
                    )
                self._update_system_api(connection, system, identifier=identifier)
        api = self.api_by_identifier(identifier)
        assert api is not None
        assert api.is_system
        return api

    @staticmethod
    def _update_system_api(connection: sa.Connection, row: Any, **values: Any) -> None:
        """Mark ``row`` as the system API with ``values`` and every Management scope (its
        other scopes kept); write only what changes."""
        scopes = list(dict.fromkeys([*MANAGEMENT_SCOPES, *json.loads(row.scopes)]))
        wanted = {**values, "is_system": True, "scopes": json.dumps(scopes)}
        changed = {key: value for key, value in wanted.items() if getattr(row, key) != value}
        if changed:
            connection.execute(apis.update().where(apis.c.id == row.id).values(**changed))
