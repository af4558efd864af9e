"""``passgate quickstart``: a demo API, application and user, a client of the Management
API, how to log in with them, then the server."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from passgate.cli.serve import (
    check_startup,
    host_option,
    local_url,
    run_server,
    tls_cert_option,
    tls_files,
    tls_key_option,
)
from passgate.cli.support import (
    Stores,
    api_json,
    client_json,
    emit,
    json_option,
    load_settings,
    open_stores,
    refusals,
    user_json,
)
from passgate.domain.management_api import MANAGEMENT_SCOPES, management_audience
from passgate.domain.models import PASSWORD_REALM, Api, Client, User
from passgate.keys.issuer import ISSUER_KEY
from passgate.management.client_grants import ClientGrantChange, ClientGrantQuery, NewClientGrant
from passgate.storage.admins import AdminStore
from passgate.storage.directory import DEFAULT_CONNECTION

__all__ = ["login_curl", "management_token_curl", "passgate_command", "quickstart"]

DEMO_API = "https://api.passgate.local/"
DEMO_SCOPES = ("read:messages", "write:messages")
DEMO_CLIENT_NAME = "Quickstart demo application"
DEMO_EMAIL = "demo@passgate.local"
DEMO_USERNAME = "demo"
#: Tenant setting remembering the demo client, so that a rerun reuses it.
QUICKSTART_CLIENT_KEY = "quickstart_client_id"
MANAGEMENT_CLIENT_NAME = "Quickstart Management API client"
#: Tenant setting remembering the quickstart's Management API client.
QUICKSTART_MANAGEMENT_CLIENT_KEY = "quickstart_management_client_id"
#: A documentation address (RFC 5737) standing for the end user's IP in the example.
EXAMPLE_END_USER_IP = "203.0.113.7"


def _demo_api(stores: Stores) -> Api:
    existing = stores.applications.api_by_identifier(DEMO_API)
    if existing is not None:
        return existing
    return stores.applications.create_api(
        identifier=DEMO_API,
        name="Quickstart demo API",
        scopes=DEMO_SCOPES,
        allow_offline_access=True,
    )


def _demo_client(stores: Stores) -> tuple[Client, str]:
    """The demo client with a fresh secret (an old one cannot be shown: it is a digest)."""
    client_id = stores.tenant.get(QUICKSTART_CLIENT_KEY)
    existing = stores.applications.get_client(client_id) if client_id else None
    if existing is not None and existing.is_confidential:
        secret = stores.applications.rotate_secret(existing.client_id)
        if not existing.is_token_endpoint_ip_header_trusted:
            stores.applications.set_ip_header_trusted(existing.client_id, True)
        client = stores.applications.get_client(existing.client_id)
        assert client is not None
        return client, secret
    client, new_secret = stores.applications.create_client(
        name=DEMO_CLIENT_NAME,
        app_type="regular_web",
        auth_method="client_secret_post",
        grant_types=["password", PASSWORD_REALM, "refresh_token"],
        trusted=True,
    )
    assert new_secret is not None
    stores.tenant.set(QUICKSTART_CLIENT_KEY, client.client_id)
    return client, new_secret


def _management_client(stores: Stores, audience: str) -> tuple[Client, str]:
    """A machine-to-machine client granted every Management API scope, with a fresh
    secret (as the demo client: an old secret cannot be shown)."""
    client_id = stores.tenant.get(QUICKSTART_MANAGEMENT_CLIENT_KEY)
    existing = stores.applications.get_client(client_id) if client_id else None
    if existing is not None and "client_credentials" in existing.grant_types:
        client, secret = existing, stores.applications.rotate_secret(existing.client_id)
    else:
        client, new_secret = stores.applications.create_client(
            name=MANAGEMENT_CLIENT_NAME,
            app_type="non_interactive",
            auth_method="client_secret_post",
            grant_types=["client_credentials"],
        )
        assert new_secret is not None
        secret = new_secret
        stores.tenant.set(QUICKSTART_MANAGEMENT_CLIENT_KEY, client.client_id)
    grants = stores.client_grants()
    found = grants.list_grants(ClientGrantQuery(client_id=client.client_id, audience=audience))
    if found:
        assert isinstance(found, list)
        grants.update(found[0]["id"], ClientGrantChange(scope=MANAGEMENT_SCOPES))
    else:
        grants.create(NewClientGrant(client.client_id, audience, MANAGEMENT_SCOPES))
    return client, secret


def _demo_user(stores: Stores) -> tuple[User, str]:
    """The demo user with a new random password."""
    password = secrets.token_urlsafe(12)
    password_hash = stores.hasher().hash(password)
    existing = stores.directory.find_by_email(DEFAULT_CONNECTION, DEMO_EMAIL)
    if existing is None:
        user = stores.directory.create_user(
            connection=DEFAULT_CONNECTION,
            email=DEMO_EMAIL,
            username=DEMO_USERNAME,
            name="Demo User",
            email_verified=True,
            password_hash=password_hash,
        )
        return user, password
    stores.directory.set_password(existing.id, password_hash)
    if existing.blocked:
        stores.directory.set_blocked(existing.id, False)
    return stores.directory.get_user(existing.id) or existing, password


def _base_url(stores: Stores, host: str, port: int, *, https: bool) -> str:
    """The tenant's issuer; before the first start, the one it will fix."""
    issuer = stores.tenant.get(ISSUER_KEY) or stores.settings.issuer
    if issuer:
        return str(issuer) if str(issuer).endswith("/") else f"{issuer}/"
    return local_url(host, port, https=https)


def login_curl(base_url: str, client_id: str, client_secret: str, password: str) -> str:
    """A password login for the demo user, as a ready-to-paste ``curl`` command."""
    fields = [
        ("grant_type", "password"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("username", DEMO_EMAIL),
        ("password", password),
        ("audience", DEMO_API),
        ("scope", "openid profile offline_access"),
    ]
    lines = [
        f"curl -sS {shlex.quote(base_url + 'oauth/token')}",
        f"  -H {shlex.quote(f'auth0-forwarded-for: {EXAMPLE_END_USER_IP}')}",
        *(f"  --data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in fields),
    ]
    return " \\\n".join(lines)


def management_token_curl(base_url: str, client_id: str, client_secret: str) -> str:
    """A Management API token for the quickstart's machine-to-machine client, as ``curl``."""
    fields = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("audience", management_audience(base_url)),
    ]
    lines = [
        f"curl -sS {shlex.quote(base_url + 'oauth/token')}",
        *(f"  --data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in fields),
    ]
    return " \\\n".join(lines)


@click.command()
@host_option
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@tls_cert_option
@tls_key_option
@json_option
def quickstart(
    host: str, port: int, tls_cert: Path | None, tls_key: Path | None, as_json: bool
) -> None:
    """Set up a demo API, application and user, and a client of the Management API; print
    how to log in and how to get a Management API token, then serve.

    Run it again at any time: it reuses the demo objects, gives the demo application and
    the Management API client new secrets and the demo user a new password (the old ones
    stop working), and prints them.
    """
    settings = load_settings()
    tls = tls_files(settings, tls_cert, tls_key)
    check_startup(settings)
    with open_stores(settings, create=True) as stores:
        replaced = _demo_exists(stores)
        api = _demo_api(stores)
        client, client_secret = _demo_client(stores)
        user, password = _demo_user(stores)
        base_url = _base_url(stores, host, port, https=tls is not None)
        # Before the first start the issuer is not fixed yet: the one it will fix.
        management_api = stores.applications.ensure_management_api(base_url)
        machine, machine_secret = _management_client(stores, management_api.identifier)
        admins = len(AdminStore(stores.engine, stores.tenant.digest_key()).all())
    curl = login_curl(base_url, client.client_id, client_secret, password)
    document: dict[str, Any] = {
        "replaced_credentials": replaced,
        "passgate": passgate_command(),
        "data_dir": str(settings.data_dir.resolve()) if settings.uses_sqlite else None,
        "token_endpoint": base_url + "oauth/token",
        "jwks_uri": base_url + ".well-known/jwks.json",
        "api": api_json(api),
        "client": {**client_json(client), "client_secret": client_secret},
        "user": {**user_json(user), "password": password},
        "curl": curl,
        "management_api": api_json(management_api),
        "management_client": {**client_json(machine), "client_secret": machine_secret},
        "management_curl": management_token_curl(base_url, machine.client_id, machine_secret),
        "admin_console": {
            "url": base_url + "admin",
            "administrators": admins,
            "create_admin": f"{passgate_command()} admins create --email you@example.com",
        },
    }
    emit(
        as_json,
        document,
        lambda: _quickstart_text(document, client.client_id, client_secret, password),
    )
    sys.stdout.flush()
    with refusals():
        run_server(settings, host, port, workers=1, tls=tls)
    sys.exit(0)


def _demo_exists(stores: Stores) -> bool:
    """Whether an earlier quickstart made the demo application or user."""
    client_id = stores.tenant.get(QUICKSTART_CLIENT_KEY)
    return (
        client_id is not None and stores.applications.get_client(str(client_id)) is not None
    ) or stores.directory.find_by_email(DEFAULT_CONNECTION, DEMO_EMAIL) is not None


def _shortest(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def passgate_command() -> str:
    """This passgate as a shell command that works from the working directory: ``passgate``
    when that is the one on PATH, else its path (``.venv/bin/passgate``), or
    ``python -m passgate`` with this interpreter."""
    script = Path(sys.argv[0])
    if script.name == "__main__.py" or not script.name:
        return f"{shlex.quote(_shortest(Path(sys.executable)))} -m passgate"
    found = shutil.which(script.name)
    if found is not None and Path(os.path.abspath(found)) == Path(os.path.abspath(script)):
        return script.name
    return shlex.quote(_shortest(script))


def _activation_hint(command: str) -> str:
    """How to type plain ``passgate``, when this one runs from a virtual environment."""
    activate = Path(sys.prefix) / "bin" / "activate"
    if command == "passgate" or sys.prefix == sys.base_prefix or not activate.exists():
        return ""
    return f"(or run `source {shlex.quote(_shortest(activate))}` once, then type `passgate`)\n"


def _quickstart_text(document: dict[str, Any], client_id: str, secret: str, password: str) -> str:
    data_dir = document["data_dir"]
    where = f"Data directory: {data_dir}\n" if data_dir else ""
    command = document["passgate"]
    rerun = (
        "\nThis run replaced the demo application's client_secret and the demo user's\n"
        "password: the ones printed before no longer work.\n"
        if document["replaced_credentials"]
        else ""
    )
    return (
        f"{where}"
        f"\nDemo API (audience):  {DEMO_API}  scopes: {' '.join(DEMO_SCOPES)}\n"
        f"\nDemo application (trusts auth0-forwarded-for):\n"
        f"  client_id:      {client_id}\n"
        f"  client_secret:  {secret}\n"
        f"\nDemo user:\n"
        f"  username:       {DEMO_EMAIL}  (or {DEMO_USERNAME})\n"
        f"  password:       {password}\n"
        f"{rerun}"
        f"\nThe secret and the password are shown this once. Running quickstart again gives\n"
        f"the demo application a new client_secret and the demo user a new password (these\n"
        f"ones then stop working).\n"
        f"\nLog in as the demo user; auth0-forwarded-for names the end user's IP\n"
        f"(the {EXAMPLE_END_USER_IP} example shows up as `ip` in the event log):\n\n"
        f"{document['curl']}\n"
        f"\nThe access token verifies against {document['jwks_uri']}\n"
        f"{_management_text(document)}"
        f"{_console_text(document)}"
        f"\nEvents: {command} logs\n"
        f"Users, applications: {command} users list, {command} clients list\n"
        f"Client grants: {command} client-grants list\n"
        f"{_activation_hint(command)}"
    )


def _console_text(document: dict[str, Any]) -> str:
    console = document["admin_console"]
    if console["administrators"]:
        who = f"Log in as one of the {console['administrators']} administrator(s)"
    else:
        who = f"First create an administrator (in another terminal):\n  {console['create_admin']}"
    return f"\nAdmin console: {console['url']}\n{who}\n"


def _management_text(document: dict[str, Any]) -> str:
    machine = document["management_client"]
    return (
        f"\nManagement API (audience):  {document['management_api']['identifier']}\n"
        f"Management API client (client_credentials, every Management API scope):\n"
        f"  client_id:      {machine['client_id']}\n"
        f"  client_secret:  {machine['client_secret']}\n"
        f"(shown this once too; a rerun gives it a new one)\n"
        f"\nGet a Management API token:\n\n"
        f"{document['management_curl']}\n"
    )
