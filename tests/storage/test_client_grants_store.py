"""Contract tests of the client-grant store and of the Management API record, on every
SQL backend (``engine``): one grant per client and API, grants that follow their API's
identifier and go with their client or API, and one Management API however often (and
from however many processes) it is ensured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.storage.applications import Applications, InvalidConfiguration
from passgate.storage.client_grants import (
    ClientGrants,
    GrantExists,
    GrantFilter,
    GrantTargetGone,
    new_grant_id,
)
from passgate.storage.schema import apis, clients

KEY = b"k" * 32
ISSUER = "https://auth.example.com/"
MANAGEMENT = "https://auth.example.com/api/v2/"
ORDERS = "https://orders.example/"


@pytest.fixture
def applications(engine: sa.Engine) -> Applications:
    return Applications(engine, KEY)


@pytest.fixture
def grants(engine: sa.Engine) -> ClientGrants:
    return ClientGrants(engine)


def machine(applications: Applications, name: str = "Backend") -> str:
    client, _ = applications.create_client(
        name=name,
        app_type="non_interactive",
        auth_method="client_secret_post",
        grant_types=["client_credentials"],
    )
    return client.client_id


def test_a_grant_reads_back_with_its_api_identifier_as_audience(
    applications: Applications, grants: ClientGrants
) -> None:
    api = applications.create_api(identifier=ORDERS, scopes=["read:orders", "write:orders"])
    client_id = machine(applications)
    created = grants.create(client_id=client_id, api_id=api.id, scope=["read:orders"])
    assert created.id.startswith("cgr_")
    assert (created.client_id, created.api_id, created.audience, created.scope) == (
        client_id,
        api.id,
        ORDERS,
        ("read:orders",),
    )
    assert grants.get(created.id) == created
    assert grants.find(client_id, api.id) == created
    assert grants.find(client_id, "api_other") is None
    assert grants.get("cgr_nope") is None


def test_one_grant_per_client_and_api(applications: Applications, grants: ClientGrants) -> None:
    api = applications.create_api(identifier=ORDERS, scopes=["read:orders"])
    client_id = machine(applications)
    grants.create(client_id=client_id, api_id=api.id, scope=[])
    with pytest.raises(GrantExists):
        grants.create(client_id=client_id, api_id=api.id, scope=["read:orders"])
    assert grants.count(GrantFilter()) == 1


def test_a_grant_needs_an_existing_client_and_api(
    applications: Applications, grants: ClientGrants
) -> None:
    api = applications.create_api(identifier=ORDERS, scopes=["read:orders"])
    with pytest.raises(GrantTargetGone):
        grants.create(client_id="no-such-client", api_id=api.id, scope=[])
    with pytest.raises(GrantTargetGone):
        grants.create(client_id=machine(applications), api_id="api_gone", scope=[])
    assert grants.count(GrantFilter()) == 0


def test_deleting_the_client_or_the_api_deletes_its_grants(
    engine: sa.Engine, applications: Applications, grants: ClientGrants
) -> None:
    orders = applications.create_api(identifier=ORDERS, scopes=["read:orders"])
    other = applications.create_api(identifier="https://other.example/", scopes=["x"])
    first, second = machine(applications, "First"), machine(applications, "Second")
    for client_id in (first, second):
        for api in (orders, other):
            grants.create(client_id=client_id, api_id=api.id, scope=[])
    with engine.begin() as connection:
        connection.execute(clients.delete().where(clients.c.client_id == first))
        connection.execute(apis.delete().where(apis.c.id == other.id))
    left = grants.page(GrantFilter(), limit=10)
    assert [(g.client_id, g.audience) for g in left] == [(second, ORDERS)]


def test_pages_in_creation_order_filtered_exactly(
    applications: Applications, grants: ClientGrants
) -> None:
    orders = applications.create_api(identifier=ORDERS, scopes=["read:orders"])
    other = applications.create_api(identifier="https://orders.example/v2/", scopes=["x"])
    made = []
    for index in range(5):
        client_id = machine(applications, f"M{index}")
        made.append(grants.create(client_id=client_id, api_id=orders.id, scope=[]).id)
        grants.create(client_id=client_id, api_id=other.id, scope=[])
    assert made == sorted(made)
    by_audience = GrantFilter(audience=ORDERS)
    assert [g.id for g in grants.page(by_audience, limit=10)] == made
    assert [g.id for g in grants.page(by_audience, limit=2, offset=2)] == made[2:4]
    assert [g.id for g in grants.page(by_audience, limit=2, from_id=made[3])] == made[3:5]
    assert grants.count(by_audience) == 5
    for variant in (ORDERS.rstrip("/"), ORDERS.upper(), ORDERS + "/", " " + ORDERS):
        assert grants.count(GrantFilter(audience=variant)) == 0, variant
    first_client = grants.get(made[0])
    assert first_client is not None
    assert grants.count(GrantFilter(client_id=first_client.client_id)) == 2
    assert grants.count(GrantFilter(client_id=first_client.client_id, audience=ORDERS)) == 1


def test_grant_ids_sort_by_creation_time() -> None:
    assert new_grant_id(1_800_000_000.0) < new_grant_id(1_800_000_000.002)
    assert len(new_grant_id(1_800_000_000.0)) == len("cgr_") + 19


def test_set_scope_and_delete(applications: Applications, grants: ClientGrants) -> None:
    api = applications.create_api(identifier=ORDERS, scopes=["read:orders", "write:orders"])
    grant = grants.create(client_id=machine(applications), api_id=api.id, scope=["read:orders"])
    changed = grants.set_scope(grant.id, ["write:orders", "read:orders"])
    assert changed is not None
    assert changed.scope == ("write:orders", "read:orders")
    assert changed.updated_at >= grant.updated_at
    assert grants.delete(grant.id) is True
    assert grants.delete(grant.id) is False
    assert grants.set_scope(grant.id, []) is None


# -- the Management API ----------------------------------------------------------------


def test_the_management_api_is_made_once(applications: Applications) -> None:
    made = applications.ensure_management_api(ISSUER)
    assert made.is_system
    assert made.identifier == MANAGEMENT
    assert made.scopes == MANAGEMENT_SCOPES
    assert applications.ensure_management_api(ISSUER) == made
    assert [api.identifier for api in applications.list_apis()] == [MANAGEMENT]


def test_the_management_api_follows_the_issuer_with_its_grants(
    applications: Applications, grants: ClientGrants
) -> None:
    made = applications.ensure_management_api(ISSUER)
    grant = grants.create(client_id=machine(applications), api_id=made.id, scope=["read:users"])
    moved = applications.ensure_management_api("https://login.example.org:8443/")
    assert (moved.id, moved.identifier) == (made.id, "https://login.example.org:8443/api/v2/")
    assert applications.api_by_identifier(MANAGEMENT) is None
    followed = grants.get(grant.id)
    assert followed is not None
    assert followed.audience == moved.identifier


def test_the_management_api_will_not_take_another_apis_identifier(
    applications: Applications,
) -> None:
    applications.ensure_management_api(ISSUER)
    taken = applications.create_api(identifier="https://new.example/api/v2/", scopes=["mine"])
    with pytest.raises(InvalidConfiguration, match=r"https://new\.example/api/v2/"):
        applications.ensure_management_api("https://new.example/")
    assert applications.api_by_identifier("https://new.example/api/v2/") == taken
    kept = applications.api_by_identifier(MANAGEMENT)
    assert kept is not None
    assert kept.is_system


def test_an_api_made_before_with_its_identifier_becomes_the_management_api(
    applications: Applications,
) -> None:
    """An API someone registered with the identifier (before passgate had the Management
    API) is taken over, its id and own scopes kept, so that its grants go on working."""
    older = applications.create_api(identifier=MANAGEMENT, scopes=["read:users", "mine"])
    adopted = applications.ensure_management_api(ISSUER)
    assert (adopted.id, adopted.is_system) == (older.id, True)
    assert adopted.scopes == (*MANAGEMENT_SCOPES, "mine")
    assert len(applications.list_apis()) == 1


def test_a_newer_passgate_adds_its_management_scopes(
    engine: sa.Engine, applications: Applications
) -> None:
    made = applications.ensure_management_api(ISSUER)
    with engine.begin() as connection:
        connection.execute(
            apis.update().where(apis.c.id == made.id).values(scopes=json.dumps(["read:users"]))
        )
    assert applications.ensure_management_api(ISSUER).scopes == MANAGEMENT_SCOPES


def test_the_database_holds_one_system_api_at_most(
    engine: sa.Engine, applications: Applications
) -> None:
    applications.ensure_management_api(ISSUER)
    second = applications.create_api(identifier=ORDERS, scopes=[])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(apis.update().where(apis.c.id == second.id).values(is_system=True))


ENSURE = """
import json, os, sys, time
from passgate.storage.applications import Applications
from passgate.storage.db import make_engine

url, go = sys.argv[1:3]
engine = make_engine(url)
applications = Applications(engine, b"k" * 32)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
print(json.dumps(applications.ensure_management_api("https://auth.example.com/").id))
"""


@pytest.mark.slow
def test_processes_starting_together_make_one_management_api(
    sql_url: str, engine: sa.Engine, applications: Applications, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", ENSURE, sql_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        go.touch()
        ids = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            ids.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert len(set(ids)) == 1
    (only,) = applications.list_apis()
    assert (only.id, only.identifier, only.is_system) == (ids[0], MANAGEMENT, True)
