"""Who may call ``/api/v2``: the authorization matrix over every endpoint.

Every endpoint is called without a token, with a malformed one, a badly signed one, an
expired one, one for another audience, one from another issuer, a user's password-grant
token, and a client-credentials token without the endpoint's scope; each gets its 401 or
403 in Auth0's shape, changes nothing and writes no ``sapi``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.management.client_grants import NewClientGrant
from tests.management.helpers import (
    AUDIENCE,
    Admin,
    assert_api_error,
    bearer,
    management_token,
)
from tests.protection_e2e.helpers import ISSUER, PASSWORD

pytestmark = pytest.mark.anyio

#: (method, path, keyword arguments, the scope it needs): every endpoint of this branch.
ENDPOINTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("GET", "/attack-protection/brute-force-protection", {}, "read:attack_protection"),
    ("PATCH", "/attack-protection/brute-force-protection", {"json": {"max_attempts": 3}},
     "update:attack_protection"),
    ("GET", "/attack-protection/suspicious-ip-throttling", {}, "read:attack_protection"),
    ("PATCH", "/attack-protection/suspicious-ip-throttling", {"json": {"enabled": False}},
     "update:attack_protection"),
    ("GET", "/attack-protection/breached-password-detection", {}, "read:attack_protection"),
    ("PATCH", "/attack-protection/breached-password-detection", {"json": {"enabled": False}},
     "update:attack_protection"),
    ("GET", "/user-blocks", {"params": {"identifier": "alice"}}, "read:users"),
    ("DELETE", "/user-blocks", {"params": {"identifier": "alice"}}, "update:users"),
    ("GET", "/user-blocks/{user_id}", {}, "read:users"),
    ("DELETE", "/user-blocks/{user_id}", {}, "update:users"),
    ("GET", "/anomaly/blocks/ips/198.51.100.1", {}, "read:anomaly_blocks"),
    ("DELETE", "/anomaly/blocks/ips/198.51.100.1", {}, "delete:anomaly_blocks"),
    # logs
    ("GET", "/logs", {"params": {"q": "type:s"}}, "read:logs"),
    ("GET", "/logs/{log_id}", {}, "read:logs"),
    ("GET", "/users/{user_id}/logs", {}, "read:logs read:logs_users"),
    # users, stats, signing keys
    ("GET", "/users", {}, "read:users"),
    ("POST", "/users", {"json": {"connection": "Username-Password-Authentication",
     "email": "new@example.com", "password": "a new password"}}, "create:users"),
    ("GET", "/users/{user_id}", {}, "read:users"),
    ("PATCH", "/users/{user_id}", {"json": {"blocked": True}}, "update:users"),
    ("DELETE", "/users/{user_id}", {}, "delete:users"),
    ("GET", "/users-by-email", {"params": {"email": "alice@example.com"}}, "read:users"),
    ("GET", "/stats/daily", {}, "read:stats"),
    ("GET", "/stats/active-users", {}, "read:stats"),
    ("GET", "/keys/signing", {}, "read:signing_keys"),
    ("GET", "/keys/signing/{kid}", {}, "read:signing_keys"),
    ("POST", "/keys/signing/rotate", {}, "create:signing_keys"),
    ("PUT", "/keys/signing/{kid}/revoke", {}, "update:signing_keys"),
    # clients, resource servers, client grants
    ("GET", "/clients", {}, "read:clients read:client_keys"),
    ("POST", "/clients", {"json": {"name": "Matrix"}}, "create:clients"),
    ("GET", "/clients/{client_id}", {}, "read:clients read:client_keys"),
    ("PATCH", "/clients/{client_id}", {"json": {"name": "Renamed"}}, "update:clients"),
    ("DELETE", "/clients/{unknown}", {}, "delete:clients"),
    ("POST", "/clients/{unknown}/rotate-secret", {}, "update:client_keys"),
    ("GET", "/resource-servers", {}, "read:resource_servers"),
    ("POST", "/resource-servers", {"json": {"identifier": "https://matrix.example/"}},
     "create:resource_servers"),
    ("GET", "/resource-servers/{api_id}", {}, "read:resource_servers"),
    ("PATCH", "/resource-servers/{api_id}", {"json": {"token_lifetime": 86400}},
     "update:resource_servers"),
    ("DELETE", "/resource-servers/{unknown}", {}, "delete:resource_servers"),
    ("GET", "/client-grants", {}, "read:client_grants"),
    ("POST", "/client-grants", {"json": {"client_id": "nobody", "audience": AUDIENCE,
                                          "scope": []}}, "create:client_grants"),
    ("GET", "/client-grants/{unknown}", {}, "read:client_grants"),
    ("PATCH", "/client-grants/{unknown}", {"json": {"scope": []}}, "update:client_grants"),
    ("DELETE", "/client-grants/{unknown}", {}, "delete:client_grants"),
    # jobs
    ("POST", "/jobs/users-imports", {"data": {"connection_id": "Username-Password-Authentication"},
     "files": {"users": ("users.json", b"[]")}}, "create:users"),
    ("POST", "/jobs/users-exports", {"json": {"format": "csv"}}, "read:users"),
    ("GET", "/jobs/{job_id}", {}, "create:users read:users"),
    ("GET", "/jobs/{job_id}/errors", {}, "create:users read:users"),
    ("GET", "/jobs/{job_id}/export", {}, "read:users"),
    ("GET", "/connections", {}, "read:connections"),
    ("POST", "/connections", {"json": {"name": "Staff", "strategy": "auth0"}},
     "create:connections"),
    ("GET", "/connections/{unknown}", {}, "read:connections"),
    ("PATCH", "/connections/{unknown}", {"json": {"options": {}}}, "update:connections"),
    ("DELETE", "/connections/{unknown}", {}, "delete:connections"),
    # log streams
    ("GET", "/log-streams", {}, "read:log_streams"),
    ("POST", "/log-streams", {"json": {"type": "http", "sink": {
        "httpEndpoint": "http://127.0.0.1:9/"}}}, "create:log_streams"),
    ("GET", "/log-streams/{unknown}", {}, "read:log_streams"),
    ("PATCH", "/log-streams/{unknown}", {"json": {"status": "paused"}}, "update:log_streams"),
    ("DELETE", "/log-streams/{unknown}", {}, "delete:log_streams"),
    # passgate extensions
    ("GET", "/passgate/doctor", {"params": {"since": "1h"}}, "read:doctor"),
    ("GET", "/passgate/dashboard", {"params": {"window": "7d"}}, "read:dashboard"),
    ("GET", "/passgate/security-alerts", {}, "read:attack_protection"),
    ("PATCH", "/passgate/security-alerts", {"json": {"enabled": False}},
     "update:attack_protection"),
]  # fmt: skip

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


Headers = dict[str, str] | dict[bytes, bytes]


def _concrete(admin: Admin, path: str) -> str:
    """``path`` with its placeholders filled: objects that exist (and ``unknown``)."""
    return path.format(
        user_id=admin.stack.alice.id,
        client_id=admin.stack.untrusted.id,
        api_id=admin.stack.passgate.management_api.id,
        log_id="no-such-log",
        kid="no-such-kid",
        unknown="no-such-id",
        job_id="job_AAAAAAAAAAAAAAAA",
    )


async def _each_endpoint(admin: Admin, headers: Headers) -> list[tuple[str, str, httpx.Response]]:
    answers = []
    for method, path, kwargs, _ in ENDPOINTS:
        path = _concrete(admin, path)
        response = await admin.http.request(method, "/api/v2" + path, headers=headers, **kwargs)
        answers.append((method, path, response))
    return answers


async def _refused_everywhere(
    admin: Admin, headers: Headers, error_code: str, message: str
) -> None:
    before = admin.stack.passgate.policies.get_brute_force()
    for method, path, response in await _each_endpoint(admin, headers):
        assert_api_error(response, 401, error_code, message)
        assert response.json()["error"] == "Unauthorized", (method, path)
        assert not any(name in response.headers for name in RATE_HEADERS), (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
    admin.stack.passgate.policies.reload()
    assert admin.stack.passgate.policies.get_brute_force() == before
    assert admin.stack.events.of_type("sapi", "fapi", "ublkdu") == []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(admin: Admin, **changes: Any) -> str:
    """A token signed with passgate's own key: a client-credentials token of the admin
    client for the Management API, with ``changes`` applied (None removes a claim)."""
    now = int(admin.stack.clock())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": f"{admin.client.id}@clients",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "scope": " ".join(MANAGEMENT_SCOPES),
        "azp": admin.client.id,
        "gty": "client-credentials",
    }
    claims.update(changes)
    return admin.stack.passgate.keys.sign({k: v for k, v in claims.items() if v is not None})


async def test_without_a_token_every_endpoint_is_401_missing_authentication(admin: Admin) -> None:
    for headers in ({}, {"authorization": ""}, {"authorization": "Bearer"},
                    {"authorization": "Bearer   "}, {"authorization": "Basic YTpi"},
                    {"authorization": admin.token}):  # fmt: skip
        await _refused_everywhere(
            admin, headers, "missing_authentication", "Missing authentication"
        )


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 9000,
        "tok\u00e9n",
    ],
    ids=["opaque", "three-parts", "alg-none", "too-long", "non-ascii"],
)
async def test_a_malformed_token_is_401_invalid_token(admin: Admin, token: str) -> None:
    header = {b"authorization": f"Bearer {token}".encode()}  # sent as UTF-8
    await _refused_everywhere(admin, header, "invalid_token", "Invalid token")


async def test_a_token_with_a_changed_signature_or_payload_is_refused(admin: Admin) -> None:
    header, payload, signature = admin.token.split(".")
    flipped = signature[:-6] + ("A" if signature[-6] != "A" else "B") + signature[-5:]
    await _refused_everywhere(
        admin,
        bearer(f"{header}.{payload}.{flipped}"),
        "invalid_token",
        "Invalid signature received for JSON Web Token validation",
    )
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "update:users"  # a token widened by hand
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    await _refused_everywhere(
        admin,
        bearer(forged),
        "invalid_token",
        "Invalid signature received for JSON Web Token validation",
    )


async def test_tokens_signed_with_other_keys_or_algorithms_are_refused(admin: Admin) -> None:
    now = int(admin.stack.clock())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"{admin.client.id}@clients",
              "azp": admin.client.id, "gty": "client-credentials", "iat": now,
              "exp": now + 600, "scope": "read:users"}  # fmt: skip
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger"})
    hmac_key = OctKey.import_key(b"a secret that is long enough for hs256!")
    for token in (
        jwt.encode({"alg": "RS256", "kid": "stranger"}, claims, stranger),
        jwt.encode({"alg": "HS256"}, claims, hmac_key, algorithms=["HS256"]),
        _b64(b'{"alg":"none"}') + "." + _b64(json.dumps(claims).encode()) + ".",
    ):
        await _refused_everywhere(admin, bearer(token), "invalid_token", "Invalid token")


async def test_an_expired_token_is_refused(admin: Admin) -> None:
    admin.stack.clock.advance(86400)  # the Management API's tokens live a day
    await _refused_everywhere(
        admin,
        admin.headers,
        "invalid_token",
        "Expired token received for JSON Web Token validation",
    )


async def test_a_token_for_another_audience_is_refused(admin: Admin) -> None:
    other = "https://api.example.test/"
    admin.stack.passgate.applications.create_api(identifier=other, scopes=["read:users"])
    grant = NewClientGrant(admin.client.id, other, ("read:users",))
    admin.stack.passgate.management.client_grants.create(grant)
    answer = await admin.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": admin.client.id,
              "client_secret": admin.client.secret, "audience": other},
    )  # fmt: skip
    await _refused_everywhere(
        admin, bearer(answer.json()["access_token"]), "invalid_token", f"Bad audience: {other}"
    )
    await _refused_everywhere(
        admin,
        bearer(_signed(admin, aud=[other, ISSUER + "userinfo"])),
        "invalid_token",
        f"Bad audience: {other} {ISSUER}userinfo",
    )
    await _refused_everywhere(
        admin, bearer(_signed(admin, aud=None)), "invalid_token", "Bad audience: None"
    )


async def test_a_token_with_the_audience_among_others_is_accepted(admin: Admin) -> None:
    token = _signed(admin, aud=[ISSUER + "userinfo", AUDIENCE])
    for method, path, response in await _each_endpoint(admin, bearer(token)):
        assert response.status_code in (200, 201, 202, 204, 404), (method, path, response.text)


async def test_a_token_of_another_issuer_is_refused(admin: Admin) -> None:
    other = "https://old-name.passgate.test/"
    await _refused_everywhere(
        admin, bearer(_signed(admin, iss=other)), "invalid_token", f"Bad issuer: {other}"
    )


async def test_a_users_token_is_refused_whatever_its_audience_and_scopes(admin: Admin) -> None:
    stack = admin.stack
    form, headers = stack.trusted.auth()
    answer = await admin.http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD,
              "audience": AUDIENCE, "scope": " ".join(MANAGEMENT_SCOPES), **form},
        headers=headers,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    message = "Invalid token: only client credentials tokens may call this API"
    await _refused_everywhere(
        admin, bearer(answer.json()["access_token"]), "invalid_token", message
    )
    # The claims that make a client-credentials token, one by one.
    for changes in (
        {"gty": "password"},
        {"gty": None},
        {"sub": stack.alice.id},
        {"sub": f"{stack.trusted.id}@clients"},
        {"azp": None},
        {"azp": 7},
    ):
        await _refused_everywhere(
            admin, bearer(_signed(admin, **changes)), "invalid_token", message
        )


async def test_time_claims_are_checked(admin: Admin) -> None:
    now = int(admin.stack.clock())
    for changes, message in (
        ({"exp": None}, "Invalid token: exp is missing"),
        ({"exp": "soon"}, "Invalid token: exp is not a number"),
        ({"exp": True}, "Invalid token: exp is not a number"),
        ({"exp": now}, "Expired token received for JSON Web Token validation"),
        ({"iat": None}, "Invalid token: iat is missing or in the future"),
        ({"iat": now + 61}, "Invalid token: iat is missing or in the future"),
        ({"nbf": now + 61}, "Invalid token: the token is not valid yet (nbf)"),
        ({"scope": ["read:users"]}, "Invalid token: scope is not a string"),
    ):
        await _refused_everywhere(
            admin, bearer(_signed(admin, **changes)), "invalid_token", message
        )
    # A minute of leeway for another instance's clock.
    token = _signed(admin, iat=now + 60, nbf=now + 60)
    for method, path, response in await _each_endpoint(admin, bearer(token)):
        assert response.status_code in (200, 201, 202, 204, 404), (method, path, response.text)


async def test_two_authorization_headers_are_refused(admin: Admin) -> None:
    request = admin.http.build_request(
        "GET",
        "/api/v2/attack-protection/brute-force-protection",
        headers=[("authorization", f"Bearer {admin.token}"), ("authorization", "Bearer x")],
    )
    response = await admin.http.send(request)
    assert_api_error(response, 401, "invalid_token", "Invalid token: send one Authorization header")


async def test_without_the_scope_each_endpoint_is_403_and_changes_nothing(admin: Admin) -> None:
    stack = admin.stack
    for method, path, kwargs, scope in ENDPOINTS:
        needed = scope.split()  # any one of them admits the call
        others = " ".join(s for s in MANAGEMENT_SCOPES if s not in needed)
        token = await management_token(admin.http, admin.client, others)
        stack.events.clear()
        before = stack.passgate.management.attack_protection.get("brute-force-protection")
        path = _concrete(admin, path)
        response = await admin.call(method, path, token=token, **kwargs)
        scope = ",".join(needed)
        body = assert_api_error(
            response,
            403,
            "insufficient_scope",
            f"Insufficient scope, expected any of: {','.join(needed)}",
        )
        assert body["error"] == "Forbidden"
        assert all(name in response.headers for name in RATE_HEADERS), (method, path)
        assert stack.passgate.management.attack_protection.get("brute-force-protection") == before
        assert stack.events.of_type("sapi", "ublkdu") == []
        failed = stack.events.of_type("fapi")
        if method == "GET":
            assert failed == []
        else:  # a refused change is a failed API operation, naming who tried
            assert len(failed) == 1
            assert failed[0].client_id == admin.client.id
            assert failed[0].client_name == admin.client.client.name
            assert failed[0].details["response"] == {
                "statusCode": 403,
                "error": f"Insufficient scope, expected any of: {','.join(needed)}",
            }


async def test_a_token_with_no_scope_at_all_is_403(admin: Admin) -> None:
    token = _signed(admin, scope=None)
    for _, _, response in await _each_endpoint(admin, bearer(token)):
        assert_api_error(response, 403, "insufficient_scope")


async def test_a_token_of_a_client_that_no_longer_exists_is_refused(admin: Admin) -> None:
    token = _signed(admin, azp="gone", sub="gone@clients")
    await _refused_everywhere(
        admin, bearer(token), "invalid_token", "Invalid token: its client no longer exists"
    )


async def test_the_matrix_covers_every_endpoint_in_the_document(admin: Admin) -> None:
    document = (await admin.http.get("/api/v2/openapi.json")).json()
    served = {
        (method.upper(), re.sub(r"\{\w+\}", "{id}", path))
        for path, operations in document["paths"].items()
        for method in operations
        if path != "/openapi.json"
    }
    listed = {(method, re.sub(r"\{\w+\}", "{id}", path)) for method, path, _, _ in ENDPOINTS}
    listed = {
        (method, "/anomaly/blocks/ips/{id}" if path.startswith("/anomaly/") else path)
        for method, path in listed
    }
    assert served == listed


async def test_each_token_is_checked_off_the_event_loop(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying a signature costs ~0.25 ms and may reload keys: it runs in the I/O pool."""
    seen: list[str] = []
    keys = admin.stack.passgate.keys
    real: Callable[[str], dict[str, Any]] = keys.signed_claims

    def spy(token: str) -> dict[str, Any]:
        seen.append(threading.current_thread().name)
        return real(token)

    monkeypatch.setattr(keys, "signed_claims", spy)
    await admin.call("GET", "/attack-protection/brute-force-protection")
    assert seen
    assert all(name.startswith("passgate-io") for name in seen)
