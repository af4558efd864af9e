"""``passgate client-grants …``: which machine-to-machine client may get tokens for which
API, and with which scopes (Auth0's client grants), over the Management API's service.

``client_credentials`` issues a token for an API only to a client granted it, and only
the grant's scopes. Running servers see a change within a second. A refusal (no such
client, API or grant, a scope the API does not define, a second grant for one client and
API) is one line on stderr and exit code 2.
"""

from __future__ import annotations

from typing import Any

import click

from passgate.cli.support import emit, fields, json_option, open_stores, table
from passgate.management.client_grants import (
    MAX_PER_PAGE,
    ClientGrantChange,
    ClientGrantQuery,
    ClientGrantsService,
    NewClientGrant,
)

__all__ = ["client_grants"]

_HEADERS = ("ID", "CLIENT_ID", "AUDIENCE", "SCOPE")

scope_option = click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    metavar="SCOPE",
    help="A scope of the API to grant (repeatable); the grant holds exactly these.",
)


def _grant_text(grant: dict[str, Any]) -> str:
    return fields(
        [
            ("id", grant["id"]),
            ("client_id", grant["client_id"]),
            ("audience", grant["audience"]),
            ("scope", " ".join(grant["scope"]) or "-"),
        ]
    )


@click.group("client-grants")
def client_grants() -> None:
    """Which client may get client_credentials tokens for which API (Auth0's client grants)."""


@client_grants.command("create")
@click.option("--client-id", required=True, help="The client to grant (its client_id).")
@click.option("--audience", required=True, help="The API's identifier.")
@scope_option
@json_option
def create(client_id: str, audience: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Let CLIENT_ID get tokens for the API AUDIENCE with the scopes given."""
    with open_stores() as stores:
        grant = stores.client_grants().create(NewClientGrant(client_id, audience, scopes))
    emit(as_json, grant, _grant_text(grant))


@client_grants.command("list")
@click.option("--client-id", default=None, help="Only this client's grants.")
@click.option("--audience", default=None, help="Only the grants for this API.")
@json_option
def list_grants(client_id: str | None, audience: str | None, as_json: bool) -> None:
    """List client grants (all, or one client's, or one API's), oldest first."""
    with open_stores() as stores:
        found = _all(stores.client_grants(), client_id, audience)
    rows = [(g["id"], g["client_id"], g["audience"], " ".join(g["scope"]) or "-") for g in found]
    emit(as_json, found, lambda: table(_HEADERS, rows, empty="no client grants"))


def _all(
    service: ClientGrantsService, client_id: str | None, audience: str | None
) -> list[dict[str, Any]]:
    """Every grant the filters select, page by page (checkpoint paging)."""
    found: list[dict[str, Any]] = []
    from_id: str | None = None
    while True:
        query = ClientGrantQuery(
            client_id=client_id, audience=audience, from_id=from_id, take=MAX_PER_PAGE
        )
        page = service.list_grants(query)
        assert isinstance(page, dict)
        found += page["client_grants"]
        from_id = page.get("next")
        if from_id is None:
            return found


@client_grants.command("update")
@click.argument("grant_id", metavar="ID")
@scope_option
@json_option
def update(grant_id: str, scopes: tuple[str, ...], as_json: bool) -> None:
    """Replace the scopes of the client grant ID."""
    with open_stores() as stores:
        grant = stores.client_grants().update(grant_id, ClientGrantChange(scope=scopes))
    emit(as_json, grant, _grant_text(grant))


@client_grants.command("delete")
@click.argument("grant_id", metavar="ID")
@json_option
def delete(grant_id: str, as_json: bool) -> None:
    """Delete the client grant ID: its client gets no new token for that API (tokens
    already issued stay valid until they expire)."""
    with open_stores() as stores:
        service = stores.client_grants()
        grant = service.get(grant_id)
        service.delete(grant_id)
    emit(
        as_json,
        {"deleted": grant},
        f"deleted client grant {grant_id} ({grant['client_id']} -> {grant['audience']})",
    )
