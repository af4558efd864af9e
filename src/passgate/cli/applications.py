"""``passgate clients …`` and ``passgate apis …``: applications and the APIs they call."""

from __future__ import annotations

from collections.abc import Sequence

import click

from passgate.cli.support import (
    api_json,
    client_json,
    emit,
    fields,
    json_option,
    open_stores,
    table,
)
from passgate.domain.models import (
    APP_TYPES,
    AUTH_METHODS,
    GRANT_TYPES,
    PASSWORD_REALM,
    Api,
    Client,
)

__all__ = ["apis", "clients"]

#: Short names accepted for ``--grant`` besides the grant type URIs.
GRANT_ALIASES = {"password-realm": PASSWORD_REALM}
_SECRET_NOTICE = "Store the client secret now: only its digest is kept, it cannot be shown again."


def _choices(values: Sequence[str]) -> str:
    return "[" + "|".join(values) + "]"


def _client_text(client: Client, secret: str | None = None) -> str:
    pairs: list[tuple[str, object]] = [
        ("client_id", client.client_id),
        ("name", client.name),
        ("app_type", client.app_type),
        ("token_endpoint_auth_method", client.token_endpoint_auth_method),
        ("grant_types", " ".join(client.grant_types)),
        ("ip_header_trusted", "on" if client.is_token_endpoint_ip_header_trusted else "off"),
    ]
    if secret is not None:
        pairs.append(("client_secret", secret))
    return fields(pairs)


@click.group()
def clients() -> None:
    """Applications (OAuth clients) that exchange passwords for tokens."""


@clients.command("create")
@click.option("--name", required=True, help="A name for people (shown in logs).")
@click.option("--app-type", default="regular_web", show_default=True, metavar=_choices(APP_TYPES))
@click.option(
    "--auth-method",
    default="client_secret_post",
    show_default=True,
    metavar=_choices(AUTH_METHODS),
    help="token_endpoint_auth_method; 'none' makes a public client without a secret.",
)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    required=True,
    metavar="GRANT",
    help=f"A grant type to allow (repeatable): {', '.join(GRANT_TYPES)}; "
    "'password-realm' is short for the password-realm URI.",
)
@click.option(
    "--trust-ip-header",
    is_flag=True,
    help="Believe this client's auth0-forwarded-for header (confidential clients only).",
)
@json_option
def create_client(
    name: str,
    app_type: str,
    auth_method: str,
    grants: tuple[str, ...],
    trust_ip_header: bool,
    as_json: bool,
) -> None:
    """Create an application and print its client_id and client_secret (shown once)."""
    with open_stores() as stores:
        client, secret = stores.applications.create_client(
            name=name,
            app_type=app_type,
            auth_method=auth_method,
            grant_types=[GRANT_ALIASES.get(grant, grant) for grant in grants],
            trusted=trust_ip_header,
        )
    emit(as_json, {**client_json(client), "client_secret": secret}, _client_text(client, secret))
    if secret is not None and not as_json:
        click.echo(_SECRET_NOTICE, err=True)


@clients.command("list")
@json_option
def list_clients(as_json: bool) -> None:
    """List applications (never their secrets)."""
    with open_stores() as stores:
        found = stores.applications.list_clients()
    rows = [
        (
            c.client_id,
            c.name,
            c.token_endpoint_auth_method,
            "on" if c.is_token_endpoint_ip_header_trusted else "off",
            ",".join("password-realm" if g == PASSWORD_REALM else g for g in c.grant_types),
        )
        for c in found
    ]
    headers = ("CLIENT_ID", "NAME", "AUTH_METHOD", "IP_HEADER_TRUST", "GRANTS")
    emit(
        as_json,
        [client_json(c) for c in found],
        lambda: table(headers, rows, empty="no clients"),
    )


@clients.command("rotate-secret")
@click.argument("client_id")
@json_option
def rotate_secret(client_id: str, as_json: bool) -> None:
    """Give a confidential client a new secret; the old one stops working at once."""
    with open_stores() as stores:
        secret = stores.applications.rotate_secret(client_id)
    emit(
        as_json,
        {"client_id": client_id, "client_secret": secret},
        fields([("client_id", client_id), ("client_secret", secret)]),
    )
    if not as_json:
        click.echo(_SECRET_NOTICE, err=True)


@clients.command("set-trust")
@click.argument("client_id")
@click.option(
    "--on/--off",
    "trusted",
    default=None,
    help="Believe (or ignore) the client's auth0-forwarded-for header.",
)
@json_option
def set_trust(client_id: str, trusted: bool | None, as_json: bool) -> None:
    """Turn is_token_endpoint_ip_header_trusted on or off for a client."""
    if trusted is None:
        raise click.UsageError("say --on or --off")
    with open_stores() as stores:
        client = stores.applications.set_ip_header_trusted(client_id, trusted)
    emit(as_json, client_json(client), _client_text(client))


@clients.command("set-auth-method")
@click.argument("client_id")
@click.argument("method", metavar=_choices(AUTH_METHODS))
@json_option
def set_auth_method(client_id: str, method: str, as_json: bool) -> None:
    """Change how CLIENT_ID authenticates at the token endpoint (token_endpoint_auth_method).

    client_secret_post <-> client_secret_basic keeps the secret; none makes the client
    public and drops its secret; from none to a secret method prints a new secret once.
    Running servers see the change within 2 seconds.
    """
    with open_stores() as stores:
        client, secret = stores.applications.set_auth_method(client_id, method)
    emit(as_json, {**client_json(client), "client_secret": secret}, _client_text(client, secret))
    if secret is not None and not as_json:
        click.echo(_SECRET_NOTICE, err=True)


_API_HEADERS = ("IDENTIFIER", "SCOPES", "OFFLINE_ACCESS", "TOKEN_LIFETIME", "ALG")


def _api_row(api: Api) -> tuple[str, str, str, int, str]:
    offline = "yes" if api.allow_offline_access else "no"
    return api.identifier, " ".join(api.scopes) or "-", offline, api.token_lifetime, api.signing_alg


@click.group()
def apis() -> None:
    """APIs (audiences) whose access tokens passgate issues."""


@apis.command("create")
@click.option("--identifier", required=True, help="The audience, an absolute URL.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE", help="Repeatable.")
@click.option("--name", default=None, help="Defaults to the identifier.")
@click.option("--allow-offline-access", is_flag=True, help="Allow refresh tokens.")
@click.option("--token-lifetime", default=86400, show_default=True, type=int, metavar="SECONDS")
@click.option("--signing-alg", default="RS256", show_default=True, metavar="[RS256|ES256]")
@json_option
def create_api(
    identifier: str,
    scopes: tuple[str, ...],
    name: str | None,
    allow_offline_access: bool,
    token_lifetime: int,
    signing_alg: str,
    as_json: bool,
) -> None:
    """Create an API."""
    with open_stores() as stores:
        api = stores.applications.create_api(
            identifier=identifier,
            scopes=scopes,
            name=name,
            token_lifetime=token_lifetime,
            allow_offline_access=allow_offline_access,
            signing_alg=signing_alg,
        )
    emit(as_json, api_json(api), lambda: table(_API_HEADERS, [_api_row(api)], empty=""))


@apis.command("list")
@json_option
def list_apis(as_json: bool) -> None:
    """List APIs."""
    with open_stores() as stores:
        found = stores.applications.list_apis()
    emit(
        as_json,
        [api_json(a) for a in found],
        lambda: table(_API_HEADERS, [_api_row(a) for a in found], empty="no APIs"),
    )
