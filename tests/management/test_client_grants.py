"""The client-grant service under the Management API and the CLI: Auth0's shapes out,
Auth0's refusals (400 / 404 / 409 with their ``errorCode``) for bad input, on every SQL
backend."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from passgate.errors import BadRequest, Conflict, ManagementError, NotFound
from passgate.management.client_grants import (
    ClientGrantChange,
    ClientGrantQuery,
    ClientGrantsService,
    NewClientGrant,
)
from passgate.storage.applications import Applications
from passgate.storage.client_grants import ClientGrants
from passgate.web.errors import management_body

ORDERS = "https://orders.example/"
SCOPES = ("read:orders", "write:orders")


class World:
    def __init__(self, engine: sa.Engine) -> None:
        self.applications = Applications(engine, b"k" * 32)
        self.changes = 0
        self.service = ClientGrantsService(
            applications=self.applications,
            grants=ClientGrants(engine),
            on_change=self.changed,
        )
        self.api = self.applications.create_api(identifier=ORDERS, scopes=SCOPES)
        self.client_id = self.machine("Backend")

    def changed(self) -> None:
        self.changes += 1

    def machine(self, name: str) -> str:
        client, _ = self.applications.create_client(
            name=name,
            app_type="non_interactive",
            auth_method="client_secret_post",
            grant_types=["client_credentials"],
        )
        return client.client_id

    def grant(self, client_id: str | None = None, scope: tuple[str, ...] = SCOPES) -> Any:
        return self.service.create(NewClientGrant(client_id or self.client_id, ORDERS, scope))


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return World(engine)


def refusal(error: ManagementError, status: int, code: str) -> dict[str, object]:
    body = management_body(error)
    assert set(body) == {"statusCode", "error", "message", "errorCode"}
    assert (body["statusCode"], body["errorCode"]) == (status, code), body
    return body


def test_create_get_update_delete_in_auth0s_shape(world: World) -> None:
    created = world.grant(scope=("read:orders",))
    assert created == {
        "id": created["id"],
        "client_id": world.client_id,
        "audience": ORDERS,
        "scope": ["read:orders"],
        "is_system": False,
        "subject_type": "client",
    }
    assert world.service.get(created["id"]) == created
    updated = world.service.update(created["id"], ClientGrantChange(scope=SCOPES))
    assert updated == {**created, "scope": list(SCOPES)}
    assert world.service.update(created["id"], ClientGrantChange()) == updated
    world.service.delete(created["id"])
    assert world.changes == 3  # create, update, delete: the token endpoint is told
    with pytest.raises(NotFound) as gone:
        world.service.get(created["id"])
    refusal(gone.value, 404, "inexistent_client_grant")


def test_an_empty_scope_list_is_a_grant_without_scopes(world: World) -> None:
    assert world.grant(scope=())["scope"] == []


def test_a_second_grant_for_one_client_and_api_is_a_conflict(world: World) -> None:
    world.grant()
    with pytest.raises(Conflict) as duplicate:
        world.grant(scope=("read:orders",))
    body = refusal(duplicate.value, 409, "conflict")
    expected = f"A client grant already exists between {world.client_id} and {ORDERS}"
    assert body["message"] == expected


@pytest.mark.parametrize(
    "audience", [ORDERS.rstrip("/"), ORDERS.upper(), ORDERS + "/", ORDERS + " ", "x" * 601]
)
def test_an_audience_names_an_api_exactly(world: World, audience: str) -> None:
    with pytest.raises(NotFound) as unknown:
        world.service.create(NewClientGrant(world.client_id, audience, ()))
    body = refusal(unknown.value, 404, "inexistent_resource_server")
    assert str(body["message"]).startswith("No resource with identifier ")
    assert len(str(body["message"])) < 150


@pytest.mark.parametrize("client_id", ["nope", "", "x" * 65])
def test_the_client_must_exist(world: World, client_id: str) -> None:
    with pytest.raises(NotFound) as unknown:
        world.service.create(NewClientGrant(client_id, ORDERS, ()))
    refusal(unknown.value, 404, "inexistent_client")


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        (("read:orders", "delete:orders"), "does not define the scope delete:orders"),
        (("Read:orders",), "does not define the scope Read:orders"),
        (("openid",), "does not define the scope openid"),
        (("read:orders", "read:orders"), "Array items are not unique"),
    ],
)
def test_scopes_must_be_ones_the_api_defines_once(
    world: World, scope: tuple[str, ...], says: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        world.grant(scope=scope)
    assert says in str(refusal(refused.value, 400, "invalid_body")["message"])
    created = world.grant(scope=())
    with pytest.raises(BadRequest):
        world.service.update(created["id"], ClientGrantChange(scope=scope))
    assert world.service.get(created["id"])["scope"] == []


@pytest.mark.parametrize("grant_id", ["cgr_nope", "", "x" * 1000])
def test_unknown_grants(world: World, grant_id: str) -> None:
    for call in (
        lambda: world.service.get(grant_id),
        lambda: world.service.update(grant_id, ClientGrantChange(scope=())),
        lambda: world.service.delete(grant_id),
    ):
        with pytest.raises(NotFound) as unknown:
            call()
        refusal(unknown.value, 404, "inexistent_client_grant")


# -- bodies ------------------------------------------------------------------------------


def test_a_post_body_reads_as_a_new_grant() -> None:
    body = {"client_id": "c", "audience": ORDERS, "scope": ["a"], "subject_type": "client"}
    assert NewClientGrant.from_body(body) == NewClientGrant("c", ORDERS, ("a",))
    assert ClientGrantChange.from_body({"scope": []}) == ClientGrantChange(scope=())
    assert ClientGrantChange.from_body({}) == ClientGrantChange()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "Expected type object but found type array"),
        ({"audience": ORDERS, "scope": []}, "Missing required property: client_id"),
        ({"client_id": "c", "scope": []}, "Missing required property: audience"),
        ({"client_id": "c", "audience": ORDERS}, "Missing required property: scope"),
        ({"client_id": 1, "audience": ORDERS, "scope": []}, "found type integer' on property"),
        ({"client_id": "", "audience": ORDERS, "scope": []}, "String is too short"),
        ({"client_id": "c" * 65, "audience": ORDERS, "scope": []}, "maximum 64"),
        ({"client_id": "c", "audience": None, "scope": []}, "found type null"),
        ({"client_id": "c", "audience": ORDERS, "scope": "a b"}, "found type string"),
        ({"client_id": "c", "audience": ORDERS, "scope": [1]}, "on property scope[0]"),
        ({"client_id": "c", "audience": ORDERS, "scope": ["a b"]}, "no spaces"),
        ({"client_id": "c", "audience": ORDERS, "scope": [""]}, "no spaces"),
        ({"client_id": "c", "audience": ORDERS, "scope": ["a", "a"]}, "indexes 0 and 1"),
        ({"client_id": "c", "audience": ORDERS, "scope": [], "x": 1}, "not allowed: x"),
        ({"client_id": "c", "audience": ORDERS, "scope": [], "subject_type": "user"}, "user"),
    ],
)
def test_a_bad_post_body_is_refused_as_auth0_does(body: object, says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        NewClientGrant.from_body(body)
    message = str(refusal(refused.value, 400, "invalid_body")["message"])
    assert message.startswith("Payload validation error: '")
    assert says in message


@pytest.mark.parametrize("body", [None, {"scope": None}, {"scope": ["a"], "audience": ORDERS}])
def test_a_bad_patch_body_is_refused(body: object) -> None:
    with pytest.raises(BadRequest) as refused:
        ClientGrantChange.from_body(body)
    refusal(refused.value, 400, "invalid_body")


# -- lists -------------------------------------------------------------------------------


def test_offset_paging_with_and_without_totals(world: World) -> None:
    made = [world.grant(world.machine(f"M{index}"))["id"] for index in range(5)]
    query = ClientGrantQuery.from_query([("per_page", "2"), ("page", "1")])
    page = world.service.list_grants(query)
    assert [grant["id"] for grant in page] == made[2:4]  # type: ignore[index]
    totals = world.service.list_grants(
        ClientGrantQuery.from_query([("per_page", "2"), ("page", "2"), ("include_totals", "true")])
    )
    assert isinstance(totals, dict)
    assert {key: totals[key] for key in ("start", "limit", "total")} == {
        "start": 4,
        "limit": 2,
        "total": 5,
    }
    assert [grant["id"] for grant in totals["client_grants"]] == made[4:]


def test_checkpoint_paging_meets_every_grant_once_while_others_are_made(world: World) -> None:
    made = [world.grant(world.machine(f"M{index}"))["id"] for index in range(5)]
    seen: list[str] = []
    pairs: list[tuple[str, str]] = [("take", "2")]
    while True:
        page = world.service.list_grants(ClientGrantQuery.from_query(pairs))
        assert isinstance(page, dict)
        seen += [grant["id"] for grant in page["client_grants"]]
        if len(seen) == 2:
            made.append(world.grant(world.machine("Late"))["id"])
        if "next" not in page:
            break
        pairs = [("take", "2"), ("from", page["next"])]
    assert seen == made


def test_filters_are_exact(world: World) -> None:
    first = world.grant()
    other = world.grant(world.machine("Other"), scope=())
    by_client = ClientGrantQuery(client_id=world.client_id)
    assert world.service.list_grants(by_client) == [first]
    assert world.service.list_grants(ClientGrantQuery(audience=ORDERS)) == [first, other]
    for audience in (ORDERS.upper(), ORDERS.rstrip("/"), "x" * 700):
        assert world.service.list_grants(ClientGrantQuery(audience=audience)) == []


@pytest.mark.parametrize(
    ("pairs", "says"),
    [
        ([("per_page", "101")], "on property per_page"),
        ([("per_page", "0")], "on property per_page"),
        ([("page", "-1")], "on property page"),
        ([("page", "1e3")], "on property page"),
        ([("page", "\u0661")], "on property page"),  # an Arabic-Indic digit one
        ([("include_totals", "yes")], "on property include_totals"),
        ([("take", "500")], "on property take"),
        ([("audience", "")], "on property audience"),
        ([("client_id", "a"), ("client_id", "b")], "found type array' on property client_id"),
        ([("q", "x")], "Additional properties not allowed: q"),
        ([("from", "cgr_1"), ("page", "1")], "cannot be combined"),
        ([("take", "5"), ("per_page", "5")], "cannot be combined"),
    ],
)
def test_a_bad_query_is_refused_as_auth0_does(pairs: list[tuple[str, str]], says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        ClientGrantQuery.from_query(pairs)
    message = str(refusal(refused.value, 400, "invalid_query_string")["message"])
    assert message.startswith("Query validation error: '")
    assert says in message


@pytest.mark.parametrize("totals", ["false", "true"])  # true: as Auth0's Python SDK sends it
def test_checkpoint_paging_takes_include_totals(totals: str) -> None:
    query = ClientGrantQuery.from_query([("take", "5"), ("include_totals", totals)])
    assert (query.checkpoint, query.take, query.include_totals) == (True, 5, totals == "true")
