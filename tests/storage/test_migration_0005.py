"""Migration 0005: client grants. The machine-to-machine clients already there keep what
``client_credentials`` gave them (every API, every scope), as grants; other clients get
none; the downgrade drops the grants and the Management API (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.app import Passgate
from passgate.oauth.service import ConnectionFacts
from passgate.storage import db
from passgate.storage.applications import Applications
from passgate.storage.client_grants import ClientGrants, GrantFilter
from passgate.storage.tenant import TenantStore
from passgate.testing import CapturedEvents
from tests.storage.migrations import at_revision, to_revision
from tests.support import cheap_settings

ORDERS = "https://orders.example/"
STOCK = "https://stock.example/"


def _insert(connection: sa.Connection, sql: str, **values: object) -> None:
    connection.execute(sa.text(sql), values)


@pytest.fixture
def at_0004(sql_url: str) -> Iterator[sa.Engine]:
    """A database at 0004 with two APIs, two machine-to-machine clients and one that
    logs users in (the PostgreSQL schema is emptied first)."""
    engine = db.make_engine(sql_url)
    at_revision(engine, "0004_user_profile")
    client = (
        "INSERT INTO clients (client_id, name, app_type, token_endpoint_auth_method,"
        " grant_types, is_token_endpoint_ip_header_trusted, secret_digest, created_at)"
        " VALUES (:id, :id, 'non_interactive', 'client_secret_post', :grants, false, 'd', 1)"
    )
    api = (
        "INSERT INTO apis (id, identifier, name, scopes, token_lifetime, allow_offline_access,"
        " signing_alg, created_at) VALUES (:id, :identifier, :id, :scopes, 86400, false,"
        " 'RS256', :created)"
    )
    with engine.begin() as connection:
        _insert(connection, client, id="m2m", grants=json.dumps(["client_credentials"]))
        _insert(
            connection,
            client,
            id="both",
            grants=json.dumps(["password", "client_credentials"]),
        )
        _insert(connection, client, id="web", grants=json.dumps(["password", "refresh_token"]))
        _insert(
            connection,
            api,
            id="api_orders",
            identifier=ORDERS,
            scopes=json.dumps(["read:orders", "write:orders"]),
            created=1,
        )
        _insert(connection, api, id="api_stock", identifier=STOCK, scopes="[]", created=2)
    try:
        yield engine
    finally:
        to_revision(engine, "head")  # the PostgreSQL schema is shared with the other tests
        engine.dispose()


def test_upgrade_grants_each_machine_client_every_api_with_every_scope(
    at_0004: sa.Engine,
) -> None:
    to_revision(at_0004, "0005_client_grants")
    grants = ClientGrants(at_0004).page(GrantFilter(), limit=100)
    found = sorted((g.client_id, g.audience, g.scope) for g in grants)
    assert found == [
        ("both", ORDERS, ("read:orders", "write:orders")),
        ("both", STOCK, ()),
        ("m2m", ORDERS, ("read:orders", "write:orders")),
        ("m2m", STOCK, ()),
    ]
    assert all(g.id.startswith("cgr_") for g in grants)
    applications = Applications(at_0004, b"k" * 32)
    assert [api.is_system for api in applications.list_apis()] == [False, False]


def test_downgrade_drops_the_grants_and_the_management_api(at_0004: sa.Engine) -> None:
    to_revision(at_0004, "0005_client_grants")
    Applications(at_0004, b"k" * 32).ensure_management_api("https://auth.example.com/")
    to_revision(at_0004, "0004_user_profile", down=True)
    inspector = sa.inspect(at_0004)
    assert "client_grants" not in inspector.get_table_names()
    assert "is_system" not in {column["name"] for column in inspector.get_columns("apis")}
    with at_0004.connect() as connection:
        identifiers = connection.execute(sa.text("SELECT identifier FROM apis ORDER BY 1"))
        assert list(identifiers.scalars()) == [ORDERS, STOCK]


def test_a_machine_client_gets_the_same_token_after_the_upgrade(
    at_0004: sa.Engine, sql_url: str, tmp_path: Path
) -> None:
    # Made as 0004 kept clients (today's store writes columns 0004 did not have).
    secret = "a-secret-of-the-machine-client-made-before-0005"
    digest = Applications(at_0004, TenantStore(at_0004).digest_key()).secret_digest(secret)
    with at_0004.begin() as connection:
        _insert(
            connection,
            "INSERT INTO clients (client_id, name, app_type, token_endpoint_auth_method,"
            " grant_types, is_token_endpoint_ip_header_trusted, secret_digest, created_at)"
            " VALUES ('nightly', 'Nightly export', 'non_interactive', 'client_secret_post',"
            " :grants, false, :digest, 1)",
            grants=json.dumps(["client_credentials"]),
            digest=digest,
        )
    to_revision(at_0004, "head")
    settings = cheap_settings(tmp_path, sql_url, issuer="https://auth.example.com/")
    passgate = Passgate(settings, events=CapturedEvents(), buffered_events=False)
    try:
        for audience, scope in ((ORDERS, "read:orders write:orders"), (STOCK, "")):
            params = {
                "grant_type": "client_credentials",
                "client_id": "nightly",
                "client_secret": secret,
                "audience": audience,
            }
            tokens = asyncio.run(passgate.tokens.token(params, None, ConnectionFacts("127.0.0.1")))
            assert tokens.scope.value == scope
    finally:
        passgate.close()
