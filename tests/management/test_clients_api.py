"""``/api/v2/clients``: applications in Auth0's shape; the secret shown on create and
rotate only (never in a read, a change, an event or a log line); refusals as Auth0's;
changes seen by the next token request."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from passgate.domain.models import PASSWORD_REALM
from tests.management.helpers import Admin, api_events, assert_api_error, management_token
from tests.protection_e2e.helpers import APP_SERVER_IP, IP_A, PASSWORD, NamedClient

pytestmark = pytest.mark.anyio

SHOWN = {
    "client_id",
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "is_token_endpoint_ip_header_trusted",
    "is_first_party",
    "oidc_conformant",
    "description",
    "logo_uri",
    "callbacks",
    "allowed_logout_urls",
    "web_origins",
    "allowed_origins",
    "client_metadata",
    "created_at",
}


async def _create(admin: Admin, **body: Any) -> dict[str, Any]:
    response = await admin.call("POST", "/clients", json={"name": "Backend", **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def test_create_answers_the_client_and_its_secret_once(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await _create(admin, app_type="non_interactive")
    secret = made.pop("client_secret")
    assert len(secret) >= 32
    assert set(made) == SHOWN
    assert made["grant_types"] == ["client_credentials"]
    assert made["token_endpoint_auth_method"] == "client_secret_post"
    assert made["is_token_endpoint_ip_header_trusted"] is False
    client_id = made["client_id"]
    read = await admin.call("GET", f"/clients/{client_id}")
    assert read.json() == made
    listed = (await admin.call("GET", "/clients")).json()
    assert made in listed
    patched = await admin.call("PATCH", f"/clients/{client_id}", json={"name": "Renamed"})
    assert patched.json() == {**made, "name": "Renamed"}
    for answer in (read, patched):
        assert "client_secret" not in answer.json()
        assert secret not in answer.text
    events = api_events(admin.stack)
    assert [event.type for event in events] == ["sapi", "sapi"]
    assert events[0].details["changes"]["client_id"] == client_id
    assert events[1].details["changes"] == {"client_id": client_id, "name": "Renamed"}
    assert secret not in json.dumps([event.details for event in events])
    assert secret not in caplog.text


async def test_read_client_keys_admits_the_reads_without_showing_a_secret(admin: Admin) -> None:
    """Auth0 shows client_secret to read:client_keys; passgate keeps only a digest."""
    made = await _create(admin)
    token = await management_token(admin.http, admin.client, "read:client_keys")
    for path in ("/clients", f"/clients/{made['client_id']}"):
        response = await admin.call("GET", path, token=token)
        assert response.status_code == 200, response.text
        assert '"client_secret"' not in response.text


async def test_defaults_follow_the_app_type_as_auth0s_do(admin: Admin) -> None:
    spa = await _create(admin, app_type="spa")
    assert spa["token_endpoint_auth_method"] == "none"
    assert spa["grant_types"] == ["password"]
    assert "client_secret" not in spa  # a public client has none
    web = await _create(admin, grant_types=[PASSWORD_REALM, "refresh_token"])
    assert web["app_type"] == "regular_web"
    assert web["grant_types"] == [PASSWORD_REALM, "refresh_token"]
    unicode = await _create(admin, name="Café ☕ 店 🙂", is_first_party=True, oidc_conformant=True)
    assert unicode["name"] == "Café ☕ 店 🙂"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "Missing required property: name"),
        ({"name": ""}, "String is too short (0 chars), minimum 1"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": "x" * 257}, "String is too long (257 chars), maximum 256"),
        ({"name": 5}, "Expected type string but found type integer"),
        ({"name": None}, "Expected type string but found type null"),
        ({"name": "A", "jwt_configuration": {}}, "Additional properties not allowed"),
        ({"name": "A", "client_secret": "mine"}, "Additional properties not allowed"),
        ({"name": "A", "app_type": "desktop"}, "app_type must be one of"),
        ({"name": "A", "token_endpoint_auth_method": "private_key_jwt"}, "must be one of"),
        ({"name": "A", "grant_types": "password"}, "Expected type array"),
        ({"name": "A", "grant_types": []}, "at least one grant type"),
        ({"name": "A", "grant_types": ["password", "password"]}, "not unique"),
        ({"name": "A", "grant_types": ["implicit"]}, "unknown grant type 'implicit'"),
        ({"name": "A", "is_token_endpoint_ip_header_trusted": "yes"}, "Expected type boolean"),
        ({"name": "A", "is_first_party": False}, "always is_first_party=true"),
        (
            {"name": "A", "app_type": "spa", "is_token_endpoint_ip_header_trusted": True},
            "needs a confidential client",
        ),
        (
            {"name": "A", "token_endpoint_auth_method": "none",
             "grant_types": ["client_credentials"]},
            "client_credentials needs a confidential client",
        ),
    ],
)  # fmt: skip
async def test_a_refused_create_is_a_400_that_says_why(
    admin: Admin, body: dict[str, Any], says: str
) -> None:
    before = len(admin.stack.passgate.applications.list_clients())
    response = await admin.call("POST", "/clients", json=body)
    error = assert_api_error(response, 400, "invalid_body")
    assert says in error["message"]
    assert len(admin.stack.passgate.applications.list_clients()) == before
    assert [event.type for event in api_events(admin.stack)] == ["fapi"]


async def test_unknown_clients_are_404_and_overlong_ids_400(admin: Admin) -> None:
    for method, path, body in (
        ("GET", "/clients/nope", None),
        ("PATCH", "/clients/nope", {"name": "X"}),
        ("DELETE", "/clients/nope", None),
        ("POST", "/clients/nope/rotate-secret", None),
    ):
        response = await admin.call(method, path, json=body)
        assert_api_error(response, 404, "inexistent_client", "The client does not exist")
    assert_api_error(await admin.call("GET", "/clients/" + "x" * 65), 400, "invalid_uri")


async def test_patch_checks_the_settings_together(admin: Admin) -> None:
    trusted = admin.stack.trusted.id
    refused = await admin.call(
        "PATCH", f"/clients/{trusted}", json={"token_endpoint_auth_method": "none"}
    )
    assert "first turn is_token_endpoint_ip_header_trusted off" in refused.json()["message"]
    assert_api_error(refused, 400, "invalid_body")
    both = await admin.call(
        "PATCH",
        f"/clients/{trusted}",
        json={"token_endpoint_auth_method": "none", "is_token_endpoint_ip_header_trusted": False},
    )
    assert both.status_code == 200, both.text
    assert both.json()["token_endpoint_auth_method"] == "none"
    public = admin.stack.public.id
    response = await admin.call(
        "PATCH", f"/clients/{public}", json={"is_token_endpoint_ip_header_trusted": True}
    )
    assert (
        "needs a confidential client" in assert_api_error(response, 400, "invalid_body")["message"]
    )
    # Made confidential, it gets a secret that is not shown: rotating shows one.
    made = await admin.call(
        "PATCH", f"/clients/{public}", json={"token_endpoint_auth_method": "client_secret_post"}
    )
    assert "client_secret" not in made.json()
    unchanged = await admin.call("PATCH", f"/clients/{public}", json={})
    assert unchanged.json() == made.json()


async def _login(admin: Admin, client: NamedClient) -> int:
    answer = await admin.stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A, client=client)
    return answer.status_code


async def test_rotate_secret_answers_the_new_one_and_the_old_is_refused_at_once(
    admin: Admin,
) -> None:
    stack = admin.stack
    old = stack.trusted
    assert await _login(admin, old) == 200  # the client is now cached
    response = await admin.call("POST", f"/clients/{old.id}/rotate-secret")
    assert response.status_code == 200, response.text
    body = response.json()
    secret = body.pop("client_secret")
    assert set(body) == SHOWN
    assert secret != old.secret
    refused = await stack.login(admin.http, "alice", PASSWORD, client=old)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert await _login(admin, NamedClient(old.client, secret)) == 200
    [event] = api_events(stack)
    assert event.details["changes"] == {"client_id": old.id, "client_secret": "(changed)"}
    assert secret not in json.dumps(event.details)
    public = await admin.call("POST", f"/clients/{stack.public.id}/rotate-secret")
    assert "has no secret" in assert_api_error(public, 400, "invalid_body")["message"]


async def test_a_new_client_logs_in_at_once_while_the_connection_is_cached(
    admin: Admin,
) -> None:
    """A new client is enabled on every connection; the token endpoint's cached
    connection (read by the login before) must not refuse it as not enabled."""
    stack = admin.stack
    assert await _login(admin, stack.trusted) == 200  # the connection is now cached
    made = await _create(admin, app_type="regular_web", grant_types=["password"])
    client = stack.passgate.applications.get_client(made["client_id"])
    assert client is not None
    assert await _login(admin, NamedClient(client, made["client_secret"])) == 200


async def test_flipping_ip_header_trust_changes_the_next_logins_ip(admin: Admin) -> None:
    stack = admin.stack
    client = stack.trusted

    async def next_ip() -> tuple[str | None, str | None]:
        stack.events.clear()
        assert await _login(admin, client) == 200
        [event] = stack.events.of_type("sepft")
        return event.ip, event.client_ip

    assert await next_ip() == (IP_A, APP_SERVER_IP)
    for trusted, expected in ((False, APP_SERVER_IP), (True, IP_A)):
        response = await admin.call(
            "PATCH", f"/clients/{client.id}", json={"is_token_endpoint_ip_header_trusted": trusted}
        )
        assert response.json()["is_token_endpoint_ip_header_trusted"] is trusted
        [event] = api_events(stack, "sapi")
        assert event.details["changes"] == {
            "client_id": client.id,
            "is_token_endpoint_ip_header_trusted": trusted,  # a setting, not a secret
        }
        assert await next_ip() == (expected, APP_SERVER_IP)


async def test_delete_removes_the_client_and_its_grants(admin: Admin) -> None:
    stack = admin.stack
    other = await _create(admin, app_type="non_interactive")
    grant = await admin.call(
        "POST",
        "/client-grants",
        json={"client_id": other["client_id"], "audience": stack.passgate.management_api.identifier,
              "scope": ["read:clients"]},
    )  # fmt: skip
    assert grant.status_code == 201, grant.text
    assert await _login(admin, stack.untrusted) == 200
    for client_id in (other["client_id"], stack.untrusted.id):
        deleted = await admin.call("DELETE", f"/clients/{client_id}")
        assert deleted.status_code == 204
        assert deleted.content == b""
        assert (await admin.call("GET", f"/clients/{client_id}")).status_code == 404
    grants = await admin.call("GET", "/client-grants", params={"client_id": other["client_id"]})
    assert grants.json() == []
    refused = await stack.login(admin.http, "alice", PASSWORD, client=stack.untrusted)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


async def test_paging_at_and_past_its_limits(admin: Admin) -> None:
    everyone = (await admin.call("GET", "/clients", params={"per_page": 100})).json()
    total = len(everyone)  # the stack's clients and the admin tool
    assert total == 5
    first = await admin.call("GET", "/clients", params={"per_page": 2, "include_totals": "true"})
    assert first.json() == {"start": 0, "limit": 2, "total": total, "clients": everyone[:2]}
    last = await admin.call("GET", "/clients", params={"per_page": 2, "page": 2})
    assert last.json() == everyone[4:]
    past = await admin.call("GET", "/clients", params={"page": 1000, "include_totals": "true"})
    assert past.json() == {"start": 50000, "limit": 50, "total": total, "clients": []}
    for params in ({"per_page": 101}, {"per_page": 0}, {"page": -1}, {"page": "x"},
                   {"include_totals": "yes"}, {"q": "name:x"}):  # fmt: skip
        assert_api_error(await admin.call("GET", "/clients", params=params), 400,
                         "invalid_query_string")  # fmt: skip


async def test_fields_and_app_type_select_what_is_listed(admin: Admin) -> None:
    await _create(admin, app_type="spa", name="SPA")
    only = await admin.call(
        "GET", "/clients", params={"fields": "client_id,name,nonsense", "app_type": "spa,native"}
    )
    assert sorted(c["name"] for c in only.json()) == ["Mobile app", "SPA"]
    assert all(set(c) == {"client_id", "name"} for c in only.json())
    without = await admin.call(
        "GET",
        f"/clients/{admin.stack.trusted.id}",
        params={"fields": "grant_types,created_at", "include_fields": "false"},
    )
    assert set(without.json()) == SHOWN - {"grant_types", "created_at"}
