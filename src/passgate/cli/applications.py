"""``passgate clients …`` and ``passgate apis …``: applications and the APIs they call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

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
from passgate.errors import Conflict, NotFound
from passgate.management.clients import ClientChange, NewClient
from passgate.management.errors import SettingRefused
from passgate.management.resource_servers import NewResourceServer

__all__ = ["apis", "clients"]

#: Short names accepted for ``--grant`` besides the grant type URIs.
GRANT_ALIASES = {"password-realm": PASSWORD_REALM}
_SECRET_NOTICE = "Store the client secret now: only its digest is kept, it cannot be shown again."


def _choices(values: Sequence[str]) -> str:
    return "[" + "|".join(values) + "]"


@contextlib.contextmanager
def _refused(client_id: str | None = None) -> Iterator[None]:
    """The services' refusals in the words this command always used (exit status 1)."""
    try:
        yield
    except SettingRefused as exc:
        raise click.ClickException(exc.problem) from None
    except NotFound:
        raise click.ClickException(f"no client with id {client_id!r}") from None
    except Conflict as exc:
        raise click.ClickException(exc.message) from None


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
    new = NewClient(
        name=name,
        app_type=app_type,
        token_endpoint_auth_method=auth_method,
        grant_types=tuple(GRANT_ALIASES.get(grant, grant) for grant in grants),
        is_token_endpoint_ip_header_trusted=trust_ip_header,
    )
    with open_stores() as stores, _refused():
        client, secret = stores.admin().clients.create(new)
    emit(as_json, {**client_json(client), "client_secret": secret}, _client_text(client, secret))
    if secret is not None and not as_json:
        click.echo(_SECRET_NOTICE, err=True)


@clients.command("list")
@json_option
def list_clients(as_json: bool) -> None:
    """List applications (never their secrets)."""
    with open_stores() as stores:
        found = stores.admin().clients.all()
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
    with open_stores() as stores, _refused(client_id):
        _, secret = stores.admin().clients.rotate_secret(client_id)
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
    change = ClientChange(is_token_endpoint_ip_header_trusted=trusted)
    with open_stores() as stores, _refused(client_id):
        client, _ = stores.admin().clients.update(client_id, change)
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
    change = ClientChange(token_endpoint_auth_method=method)
    with open_stores() as stores, _refused(client_id):
        client, secret = stores.admin().clients.update(client_id, change)
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
    new = NewResourceServer(
        identifier=identifier,
        name=name,
        scopes=scopes,
        signing_alg=signing_alg,
        token_lifetime=token_lifetime,
        allow_offline_access=allow_offline_access,
    )
    with open_stores() as stores, _refused():
        api = stores.admin().resource_servers.create(new)
    emit(as_json, api_json(api), lambda: table(_API_HEADERS, [_api_row(api)], empty=""))


@apis.command("list")
@json_option
def list_apis(as_json: bool) -> None:
    """List APIs."""
    with open_stores() as stores:
        found = stores.admin().resource_servers.all()
    emit(
        as_json,
        [api_json(a) for a in found],
        lambda: table(_API_HEADERS, [_api_row(a) for a in found], empty="no APIs"),
    )
