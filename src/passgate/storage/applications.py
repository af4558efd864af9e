"""Applications (OAuth clients) and APIs (resource servers)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from passgate.domain.management_api import management_audience
from passgate.domain.models import (
    APP_TYPES,
    AUTH_METHODS,
    GRANT_TYPES,
    Api,
    Client,
    ClientProfile,
)
from passgate.storage.application_rows import ApiExists, InvalidConfiguration, api_from_row
from passgate.storage.connections import enable_on_every_connection
from passgate.storage.limits import check_length, shorten
from passgate.storage.schema import apis, clients
from passgate.storage.system_api import ensure_system_api
from passgate.support.crypto import keyed_digest, new_id, new_secret

__all__ = [
    "ApiExists",
    "Applications",
    "InvalidConfiguration",
    "api_from_row",
    "validate_client",
]


SIGNING_ALGS = ("RS256", "ES256")
_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def _new_client_id() -> str:
    """32 letters and digits, like Auth0's: never starts with "-", which a command line
    would read as an option (about 190 bits, though a client id is not a secret)."""
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(32))


#: How often a client's change is tried again when others changed it meanwhile.
_UPDATE_ATTEMPTS = 25
#: Scopes that OpenID Connect defines: no API defines them.
_OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
#: The longest scope an API defines.
MAX_SCOPE = 280
TOKEN_LIFETIME_RANGE = (60, 2592000)


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
        profile=_stored_profile(row.profile),
    )


def _stored_profile(stored: str | None) -> ClientProfile:
    """A client's profile as stored (NULL: none)."""
    if not stored:
        return ClientProfile()
    fields: dict[str, Any] = json.loads(stored)
    metadata = fields.pop("client_metadata", {})
    values: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()
    }
    return ClientProfile(**values, client_metadata=tuple(metadata.items()))


def _profile_to_store(profile: ClientProfile) -> str | None:
    """``profile`` to store: only what it holds (None when nothing)."""
    fields: dict[str, Any] = {
        field.name: getattr(profile, field.name) for field in dataclasses.fields(profile)
    }
    fields["client_metadata"] = dict(profile.client_metadata)
    kept = {name: value for name, value in fields.items() if value}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")) if kept else None


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


def validate_api(
    *, name: str | None, scopes: Sequence[str], token_lifetime: int, signing_alg: str
) -> None:
    if name is not None and not name.strip():
        raise InvalidConfiguration("name must not be empty")
    check_length(apis.c.name, name, field="name")
    for scope in scopes:
        if not scope or any(ch.isspace() for ch in scope) or len(scope) > MAX_SCOPE:
            raise InvalidConfiguration(f"invalid scope {scope!r}")
        if scope in _OIDC_SCOPES:
            raise InvalidConfiguration(f"{scope!r} is an OpenID Connect scope, not an API's")
    low, high = TOKEN_LIFETIME_RANGE
    if not low <= token_lifetime <= high:
        raise InvalidConfiguration(f"token_lifetime must be {low} to {high} seconds")
    if signing_alg not in SIGNING_ALGS:
        raise InvalidConfiguration(f"signing_alg must be one of {', '.join(SIGNING_ALGS)}")


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
        profile: ClientProfile | None = None,
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
                    profile=_profile_to_store(profile or ClientProfile()),
                )
            )
            enable_on_every_connection(connection, client_id)
        client = self.get_client(client_id)
        assert client is not None
        return client, secret

    def get_client(self, client_id: str) -> Client | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                sa.select(clients).where(clients.c.client_id == client_id)
            ).first()
        return None if row is None else _client(row)

    def list_clients(
        self, *, offset: int = 0, limit: int | None = None, app_types: Sequence[str] = ()
    ) -> list[Client]:
        """Clients in creation order (``app_types``: only those), ``limit`` from ``offset``."""
        statement = sa.select(clients).order_by(clients.c.created_at, clients.c.client_id)
        if app_types:
            statement = statement.where(clients.c.app_type.in_(app_types))
        with self._engine.connect() as connection:
            rows = connection.execute(statement.offset(offset).limit(limit))
            return [_client(row) for row in rows]

    def count_clients(self, *, app_types: Sequence[str] = ()) -> int:
        statement = sa.select(sa.func.count()).select_from(clients)
        if app_types:
            statement = statement.where(clients.c.app_type.in_(app_types))
        with self._engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

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

    def update_client(
        self,
        client_id: str,
        *,
        name: str | None = None,
        app_type: str | None = None,
        auth_method: str | None = None,
        grant_types: Sequence[str] | None = None,
        trusted: bool | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> tuple[Client, str | None] | None:
        """Change the settings given (None: kept), checked together as one client; None
        when there is no such client. ``profile`` replaces the profile fields it names.

        Returns the client and, when it turns from public into confidential, its new
        secret (stored as a digest). Between ``client_secret_post`` and
        ``client_secret_basic`` the secret stays; a client made public (``none``) loses it.
        A change made meanwhile by another caller is read again, so that two changes
        never combine into settings that were not checked (trust on a public client)."""
        for attempt in range(_UPDATE_ATTEMPTS):
            if attempt:  # another change landed between our read and our write
                time.sleep(secrets.randbelow(5000) / 1e6)
            with self._engine.connect() as connection:
                row = connection.execute(
                    sa.select(clients).where(clients.c.client_id == client_id)
                ).first()
            if row is None:
                return None
            client = _client(row)
            done = self._update_client(
                client,
                row,
                dataclasses.replace(client.profile, **profile) if profile else client.profile,
                name=client.name if name is None else name,
                app_type=client.app_type if app_type is None else app_type,
                auth_method=client.token_endpoint_auth_method
                if auth_method is None
                else auth_method,
                grant_types=client.grant_types if grant_types is None else grant_types,
                trusted=client.is_token_endpoint_ip_header_trusted if trusted is None else trusted,
            )
            if done is not None:
                return done
        raise InvalidConfiguration("the client is being changed by someone else; try again")

    def _update_client(
        self,
        client: Client,
        stored: Any,
        profile: ClientProfile,
        *,
        name: str,
        app_type: str,
        auth_method: str,
        grant_types: Sequence[str],
        trusted: bool,
    ) -> tuple[Client, str | None] | None:
        grant_types = list(dict.fromkeys(grant_types))
        if auth_method == "none" and trusted and client.is_token_endpoint_ip_header_trusted:
            raise InvalidConfiguration(
                "a public client cannot be trusted with auth0-forwarded-for; first turn "
                f"is_token_endpoint_ip_header_trusted off (passgate clients set-trust "
                f"{client.client_id} --off)"
            )
        validate_client(
            name=name,
            app_type=app_type,
            auth_method=auth_method,
            grant_types=grant_types,
            trusted=trusted,
        )
        secret: str | None = None
        values: dict[str, Any] = {
            "name": name,
            "app_type": app_type,
            "token_endpoint_auth_method": auth_method,
            "grant_types": json.dumps(grant_types),
            "is_token_endpoint_ip_header_trusted": trusted,
            "profile": _profile_to_store(profile),
        }
        if auth_method == "none":
            values["secret_digest"] = None
        elif not client.is_confidential:
            secret = new_secret(32)
            values["secret_digest"] = self.secret_digest(secret)
        unchanged = sa.and_(  # the settings this change was checked against
            clients.c.client_id == client.client_id,
            clients.c.token_endpoint_auth_method == client.token_endpoint_auth_method,
            clients.c.grant_types == stored.grant_types,
            clients.c.profile.is_(None)
            if stored.profile is None
            else clients.c.profile == stored.profile,
            clients.c.is_token_endpoint_ip_header_trusted
            == client.is_token_endpoint_ip_header_trusted,
        )
        with self._engine.begin() as connection:
            if not connection.execute(clients.update().where(unchanged).values(**values)).rowcount:
                return None
        updated = self.get_client(client.client_id)
        if updated is None:  # deleted meanwhile
            return None
        return updated, secret

    def set_auth_method(self, client_id: str, method: str) -> tuple[Client, str | None]:
        """Change how a client authenticates at the token endpoint (:meth:`update_client`)."""
        done = self.update_client(client_id, auth_method=method)
        if done is None:
            raise InvalidConfiguration(f"no client with id {client_id!r}")
        return done

    def set_ip_header_trusted(self, client_id: str, trusted: bool) -> Client:
        done = self.update_client(client_id, trusted=trusted)
        if done is None:
            raise InvalidConfiguration(f"no client with id {client_id!r}")
        return done[0]

    def delete_client(self, client_id: str) -> bool:
        """Delete the client and its grants; False when there was none."""
        with self._engine.begin() as connection:
            deleted = connection.execute(
                clients.delete().where(clients.c.client_id == client_id)
            ).rowcount
        return bool(deleted)

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
        parts = urlsplit(identifier)
        if not identifier or not (parts.scheme and parts.netloc):
            raise InvalidConfiguration("identifier must be an absolute URL (the audience)")
        validate_api(
            name=name or None, scopes=scopes, token_lifetime=token_lifetime, signing_alg=signing_alg
        )
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
            raise ApiExists(f"an API with identifier {identifier!r} exists") from exc
        api = self.api_by_identifier(identifier)
        assert api is not None
        return api

    def api_by_identifier(self, identifier: str) -> Api | None:
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(apis).where(apis.c.identifier == identifier)).first()
        return None if row is None else api_from_row(row)

    def api_by_id(self, api_id: str) -> Api | None:
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(apis).where(apis.c.id == api_id)).first()
        return None if row is None else api_from_row(row)

    def list_apis(self, *, offset: int = 0, limit: int | None = None) -> list[Api]:
        statement = sa.select(apis).order_by(apis.c.created_at, apis.c.id)
        with self._engine.connect() as connection:
            rows = connection.execute(statement.offset(offset).limit(limit))
            return [api_from_row(row) for row in rows]

    def count_apis(self) -> int:
        with self._engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(apis)).scalar_one()
            )

    def update_api(
        self,
        api_id: str,
        *,
        name: str | None = None,
        scopes: Sequence[str] | None = None,
        token_lifetime: int | None = None,
        allow_offline_access: bool | None = None,
        signing_alg: str | None = None,
    ) -> Api | None:
        """Change the settings given (None: kept); None when there is no such API. The
        system API (the Management API) takes a new token lifetime only: its identifier,
        name and scopes are passgate's."""
        api = self.api_by_id(api_id)
        if api is None:
            return None
        if api.is_system and (name, scopes, allow_offline_access, signing_alg) != (None,) * 4:
            raise InvalidConfiguration("the Management API takes a new token_lifetime only")
        validate_api(
            name=name,
            scopes=scopes or (),
            token_lifetime=api.token_lifetime if token_lifetime is None else token_lifetime,
            signing_alg=api.signing_alg if signing_alg is None else signing_alg,
        )
        values: dict[str, Any] = {
            "name": name,
            "scopes": None if scopes is None else json.dumps(list(dict.fromkeys(scopes))),
            "token_lifetime": token_lifetime,
            "allow_offline_access": allow_offline_access,
            "signing_alg": signing_alg,
        }
        values = {key: value for key, value in values.items() if value is not None}
        if values:
            with self._engine.begin() as connection:
                connection.execute(apis.update().where(apis.c.id == api_id).values(**values))
        return self.api_by_id(api_id)

    def delete_api(self, api_id: str) -> bool:
        """Delete the API and its client grants (never the system API); False when there
        was no such API to delete."""
        with self._engine.begin() as connection:
            deleted = connection.execute(
                apis.delete().where(apis.c.id == api_id, apis.c.is_system.is_(False))
            ).rowcount
        return bool(deleted)

    def max_token_lifetime(self) -> int:
        with self._engine.connect() as connection:
            value = connection.execute(sa.select(sa.func.max(apis.c.token_lifetime))).scalar()
        return int(value or 86400)

    # -- the Management API --------------------------------------------------------
    def ensure_management_api(self, issuer: str) -> Api:
        """The Management API, made to match ``issuer`` (:mod:`passgate.storage.system_api`)."""

        api = ensure_system_api(self._engine, management_audience(issuer))
        assert api.is_system
        return api
