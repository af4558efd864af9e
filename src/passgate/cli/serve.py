"""``passgate serve`` and ``passgate quickstart``: run the token service."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from passgate.cli.support import (
    SettingsRefused,
    Stores,
    api_json,
    client_json,
    emit,
    json_option,
    load_settings,
    open_stores,
    refusals,
    say_where,
    sqlite_file,
    user_json,
)
from passgate.domain.management_api import MANAGEMENT_SCOPES, management_audience
from passgate.domain.models import PASSWORD_REALM, Api, Client, User
from passgate.keys.issuer import ISSUER_KEY
from passgate.management.client_grants import ClientGrantChange, ClientGrantQuery, NewClientGrant
from passgate.settings import Settings
from passgate.storage.directory import DEFAULT_CONNECTION

__all__ = ["check_startup", "passgate_command", "quickstart", "run_server", "serve"]

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

#: What a service manager (SIGTERM) or a terminal (SIGINT) sends to stop the server.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

host_option = click.option("--host", default="127.0.0.1", show_default=True)


def run_server(settings: Settings, host: str, port: int, workers: int) -> None:
    """Migrate once, here, then serve until a signal stops the server."""
    import uvicorn

    from passgate.keys.startup import prepare_start
    from passgate.support import hash_slots
    from passgate.web.protocol import HttpProtocol

    # Refused here, in one line, rather than by every worker with a traceback.
    with refusals():
        issuer, fixed_now = prepare_start(settings, first_address=_local_url(host, port))
    if fixed_now and settings.issuer is None:
        click.echo(
            f"passgate: the issuer is {issuer} (this first serving address), kept in the "
            f"database for every instance; change it with `passgate issuer set URL`",
            err=True,
        )
    _reclaim_semaphores()
    slots = None
    if workers > 1:
        # Password hashing is bounded across the whole server, not per worker.
        if hash_slots.supported():
            # Every worker gets a full pool (the clients' connections may all land on one
            # worker) and they share one bound: a semaphore the workers inherit by id.
            slots = hash_slots.HashSlots.create(settings.hash_workers)
            os.environ["PASSGATE_HASH_SLOTS_ID"] = str(slots.id)
        elif "PASSGATE_HASH_WORKERS" not in os.environ:
            os.environ["PASSGATE_HASH_WORKERS"] = str(max(1, settings.hash_workers // workers))
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # previous handler: ours makes that a normal exit (0 for SIGTERM) instead of a death.
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in STOP_SIGNALS}
    try:
        uvicorn.run(
            "passgate.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            http=HttpProtocol,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if slots is not None:
            slots.remove()
            os.environ.pop("PASSGATE_HASH_SLOTS_ID", None)


def check_startup(settings: Settings) -> None:
    """Refuse (exit 2) settings that every server process would refuse at start: range
    answers without a breached-password index to answer from."""
    from passgate.breached.checker import BreachedChecker
    from passgate.breached.errors import BreachedError

    if not settings.breached_range_enabled:
        return
    try:
        BreachedChecker.from_settings(settings, require_index=True).close()
    except BreachedError as exc:
        raise SettingsRefused(
            f"PASSGATE_BREACHED_RANGE_ENABLED: {exc}; expected an index built with "
            "`passgate breached import --with-range` at PASSGATE_BREACHED_INDEX, or false"
        ) from None


def _reclaim_semaphores() -> None:
    """Remove the hashing semaphores of servers killed with ``kill -9`` (nobody uses them)."""
    from passgate.support import hash_slots

    removed = hash_slots.reclaim_stale()
    if removed:
        ids = ", ".join(str(semaphore_id) for semaphore_id in removed)
        click.echo(
            f"passgate: removed {len(removed)} hashing semaphore set(s) left by a killed "
            f"server (semid {ids})",
            err=True,
        )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@click.command()
@host_option
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the token endpoint (migrating the database first, creating it if need be)."""
    settings = load_settings()
    check_startup(settings)
    database = sqlite_file(settings)
    say_where(settings, created=database is not None and not database.exists())
    with refusals():
        run_server(settings, host, port, workers)
    sys.exit(0)


# -- quickstart ----------------------------------------------------------------------


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


def _local_url(host: str, port: int) -> str:
    """The address a server listening on ``host`` and ``port`` answers at, from here."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://{_url_host(local)}:{port}/"


def _base_url(stores: Stores, host: str, port: int) -> str:
    """The tenant's issuer; before the first start, the one it will fix."""
    issuer = stores.tenant.get(ISSUER_KEY) or stores.settings.issuer
    if issuer:
        return str(issuer) if str(issuer).endswith("/") else f"{issuer}/"
    return _local_url(host, port)


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
@json_option
def quickstart(host: str, port: int, as_json: bool) -> None:
    """Set up a demo API, application and user, and a client of the Management API; print
    how to log in and how to get a Management API token, then serve.

    Run it again at any time: it reuses the demo objects, gives the demo application and
    the Management API client new secrets and the demo user a new password (the old ones
    stop working), and prints them.
    """
    settings = load_settings()
    check_startup(settings)
    with open_stores(settings, create=True) as stores:
        replaced = _demo_exists(stores)
        api = _demo_api(stores)
        client, client_secret = _demo_client(stores)
        user, password = _demo_user(stores)
        base_url = _base_url(stores, host, port)
        # Before the first start the issuer is not fixed yet: the one it will fix.
        management_api = stores.applications.ensure_management_api(base_url)
        machine, machine_secret = _management_client(stores, management_api.identifier)
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
    }
    emit(
        as_json,
        document,
        lambda: _quickstart_text(document, client.client_id, client_secret, password),
    )
    sys.stdout.flush()
    with refusals():
        run_server(settings, host, port, workers=1)
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
        f"\nEvents: {command} logs\n"
        f"Users, applications: {command} users list, {command} clients list\n"
        f"Client grants: {command} client-grants list\n"
        f"{_activation_hint(command)}"
    )


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
