"""What every ``/api/v2`` call goes through: rate limits (shared by instances), strict
bodies, Auth0-shaped 404/405/413/500/503, audit events without secrets, and the OpenAPI
document of what is served."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from passgate.breached.errors import BreachedUpstreamUnavailable
from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.errors import StorageError
from passgate.management.rate_limit import RateLimiter
from passgate.web.management.routes import redacted
from tests.management.helpers import (
    Admin,
    assert_api_error,
    bearer,
    m2m_client,
    management_token,
)
from tests.protection_e2e.helpers import APP_SERVER_IP, BASE_URL, Stack

pytestmark = pytest.mark.anyio

BRUTE = "/attack-protection/brute-force-protection"


def _limits(response: httpx.Response) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["x-ratelimit-limit"]),
        int(headers["x-ratelimit-remaining"]),
        int(headers["x-ratelimit-reset"]),
    )


@pytest.fixture
async def limited(make_stack: Callable[..., Stack]) -> Any:
    """An admin whose tokens may make 3 calls a minute (one back every 20 s)."""
    stack = make_stack(management_rate_limit=3)
    async with stack.http() as http:
        client = m2m_client(stack)
        yield Admin(stack, http, client, await management_token(http, client))


async def test_rate_limit_headers_count_down_then_429(limited: Admin) -> None:
    now = int(limited.stack.clock())
    seen = []
    for _ in range(3):
        response = await limited.call("GET", BRUTE)
        assert response.status_code == 200
        seen.append(_limits(response))
    assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
    assert [reset - now for _, _, reset in seen] == [20, 40, 60]  # when the bucket is full
    refused = await limited.call("PATCH", BRUTE, json={"max_attempts": 5})
    body = assert_api_error(refused, 429, "too_many_requests", "Global limit has been reached")
    assert body["error"] == "Too Many Requests"
    assert _limits(refused) == (3, 0, now + 60)
    assert refused.headers["retry-after"] == "20"
    # A refused call changes nothing and is not logged (a flood would fill the log).
    assert limited.stack.passgate.policies.get_brute_force().max_attempts == 10
    assert limited.stack.events.of_type("sapi", "fapi") == []
    limited.stack.clock.advance(20)
    again = await limited.call("GET", BRUTE)
    assert again.status_code == 200
    assert _limits(again)[1] == 0
    limited.stack.clock.advance(60)
    assert _limits(await limited.call("GET", BRUTE))[1] == 2


async def test_each_token_has_its_own_bucket(limited: Admin) -> None:
    for _ in range(3):
        await limited.call("GET", BRUTE)
    assert (await limited.call("GET", BRUTE)).status_code == 429
    limited.stack.clock.advance(1)  # a token issued a second later is another token
    other = await management_token(limited.http, limited.client)
    assert other != limited.token
    assert (await limited.call("GET", BRUTE)).status_code == 429
    assert (await limited.call("GET", BRUTE, token=other)).status_code == 200


async def test_refusals_before_the_bucket_carry_no_rate_headers_and_spend_nothing(
    limited: Admin,
) -> None:
    for _ in range(5):
        response = await limited.http.get("/api/v2" + BRUTE, headers=bearer("x.y.z"))
        assert response.status_code == 401
        assert "x-ratelimit-limit" not in response.headers
    assert _limits(await limited.call("GET", BRUTE))[1] == 2
    # Refusals after it do count: 403 and 400 carry the headers.
    narrow = await management_token(limited.http, limited.client, "read:logs")
    forbidden = await limited.call("GET", BRUTE, token=narrow)
    assert forbidden.status_code == 403
    assert _limits(forbidden)[1] == 2


async def test_the_limit_holds_across_instances(
    limited: Admin, make_instance: Callable[..., Starlette]
) -> None:
    """Two instances on one database and one set of counters share each token's bucket."""
    other = make_instance(limited.stack)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other, client=(APP_SERVER_IP, 1)), base_url=BASE_URL
    ) as second:
        answers = []
        for http in (limited.http, second, limited.http, second, limited.http, second):
            answer = await http.get("/api/v2" + BRUTE, headers=limited.headers)
            answers.append(answer.status_code)
    assert answers == [200, 200, 200, 429, 429, 429]


async def test_unknown_paths_and_methods_answer_in_auth0s_shape(admin: Admin) -> None:
    for path in ("/api/v2/nope", "/api/v2", "/api/v2/", "/api/v2" + BRUTE + "/",
                 "/api/v2/user-blocks/a/b", "/api/v2/nope%0Aline", "/api/v2/a/%0A/b"):  # fmt: skip
        response = await admin.http.get(path, headers=admin.headers)
        assert_api_error(response, 404, "not_found", "Not Found")
        assert "location" not in response.headers
    response = await admin.http.get("/api/v2/resource-servers/%0A", headers=admin.headers)
    assert_api_error(response, 404, "inexistent_resource_server")
    for method in ("POST", "PUT", "DELETE", "HEAD", "OPTIONS"):
        response = await admin.http.request(method, "/api/v2" + BRUTE, headers=admin.headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, PATCH"
        if method != "HEAD":
            assert_api_error(response, 405, "method_not_allowed")


async def test_the_document_answers_other_methods_with_405(admin: Admin) -> None:
    """Found by the conformance run: a POST to the document was a 404 (the catch-all
    route), not the 405 every other path of ``/api/v2`` answers."""
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = await admin.http.request(method, "/api/v2/openapi.json")
        message = f"Method {method} is not allowed here"
        assert_api_error(response, 405, "method_not_allowed", message)
        assert response.headers["allow"] == "GET"
    head = await admin.http.head("/api/v2/openapi.json")
    assert head.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"", "application/json", "Invalid request payload JSON format"),
        (b"{", "application/json", "Invalid request payload JSON format"),
        (b"max_attempts=5", "application/x-www-form-urlencoded",
         "Payload validation error: Content-Type must be application/json."),
        (b'{"max_attempts": 5}', None,
         "Payload validation error: Content-Type must be application/json."),
        (b'{"max_attempts": 5}', "text/plain",
         "Payload validation error: Content-Type must be application/json."),
        (b'{"max_attempts": 5}', "application/json; charset=latin-1",
         "Only the UTF-8 charset is supported"),
        (b"[1]", "application/json", "Payload validation error: the body must be a JSON object."),
        (b"null", "application/json", "Payload validation error: the body must be a JSON object."),
        (b'"x"', "application/json", "Payload validation error: the body must be a JSON object."),
        (b'{"max_attempts": 5, "max_attempts": 100}', "application/json",
         "Payload validation error: 'max_attempts' is given more than once."),
        (b'{"allowlist": [], "stage": {"a": 1, "a": 2}}', "application/json",
         "Payload validation error: 'a' is given more than once."),
        (b'{"max_attempts": NaN}', "application/json",
         "Payload validation error: NaN is not a JSON number."),
        (b'{"max_attempts": Infinity}', "application/json",
         "Payload validation error: Infinity is not a JSON number."),
        (b'{"max_attempts": 5}\xff', "application/json", "Invalid request payload JSON format"),
        (b'{"mode": "a\\u0000b"}', "application/json",
         "Payload validation error: NUL characters are not allowed."),
        (b"[" * 5000 + b"]" * 5000, "application/json", "Invalid request payload JSON format"),
        (b'{"max_attempts": 1' + b"0" * 5000 + b"}", "application/json",
         "Invalid request payload JSON format"),
    ],
)  # fmt: skip
async def test_a_body_that_is_not_one_json_object_is_400(
    admin: Admin, content: bytes, content_type: str | None, message: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await admin.call("PATCH", BRUTE, content=content, headers=headers)
    assert_api_error(response, 400, "invalid_body", message)
    assert admin.stack.passgate.policies.get_brute_force().max_attempts == 10


async def test_a_json_content_type_with_utf8_charset_is_fine(admin: Admin) -> None:
    for content_type in ("application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'):
        response = await admin.call(
            "PATCH", BRUTE, content=b'{"max_attempts": 9}', headers={"content-type": content_type}
        )
        assert response.status_code == 200, response.text


async def test_the_body_cap_is_413(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(max_body_bytes=1024)
    async with stack.http() as http:
        client = m2m_client(stack)
        admin = Admin(stack, http, client, await management_token(http, client))
        at_limit = json.dumps({"allowlist": [], "mode": "count_per_identifier" + " " * 0})
        at_limit += " " * (1024 - len(at_limit))
        response = await admin.call(
            "PATCH", BRUTE, content=at_limit, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200, response.text
        response = await admin.call(
            "PATCH", BRUTE, content=at_limit + " ", headers={"content-type": "application/json"}
        )
        assert_api_error(
            response,
            413,
            "payload_too_large",
            "Payload content length greater than maximum allowed: 1024",
        )
        assert response.json()["error"] == "Request Entity Too Large"


async def test_the_body_cap_holds_and_is_documented_for_calls_without_a_body(
    make_stack: Callable[..., Stack],
) -> None:
    """Found by the conformance run: a GET or DELETE with a body past the cap is a 413,
    which the document listed only for operations that take a body."""
    stack = make_stack(max_body_bytes=1024)
    async with stack.http() as http:
        client = m2m_client(stack)
        admin = Admin(stack, http, client, await management_token(http, client))
        document = (await http.get("/api/v2/openapi.json")).json()
        for method, path, documented in (
            ("GET", "/logs", "/logs"),
            ("DELETE", "/anomaly/blocks/ips/192.0.2.1", "/anomaly/blocks/ips/{id}"),
        ):
            response = await admin.call(method, path, content=b"x" * 1025)
            assert_api_error(response, 413, "payload_too_large")
            assert "413" in document["paths"][documented][method.lower()]["responses"]
            response = await admin.call(method, path, content=b"x" * 1024)
            assert_api_error(response, 400, "invalid_body")


async def test_a_call_without_a_body_must_send_none(admin: Admin) -> None:
    response = await admin.call("DELETE", "/anomaly/blocks/ips/192.0.2.1", json={"x": 1})
    assert_api_error(
        response,
        400,
        "invalid_body",
        "Payload validation error: this endpoint takes no request body.",
    )
    response = await admin.call(
        "DELETE", "/anomaly/blocks/ips/192.0.2.1", headers={"content-type": "application/json"}
    )
    assert response.status_code == 204


async def test_an_unreachable_breached_password_upstream_is_503(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The range upstream down while a user is created with a password: the service is
    unavailable for a moment, not broken."""

    def upstream_down(*args: object, **kwargs: object) -> Any:
        raise BreachedUpstreamUnavailable("the upstream range API could not answer")

    monkeypatch.setattr(admin.stack.passgate.management.tenant.users, "create", upstream_down)
    body = {"connection": "Username-Password-Authentication", "email": "new@example.com",
            "password": "a long new password"}  # fmt: skip
    response = await admin.call("POST", "/users", json=body)
    assert_api_error(response, 503, "temporarily_unavailable")


async def test_a_storage_fault_is_503_and_a_bug_is_500(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    passgate = admin.stack.passgate

    def down(*args: object, **kwargs: object) -> Any:
        raise StorageError("redis://:hunter2@cache:6379 is unreachable")

    monkeypatch.setattr(passgate.management.attack_protection, "update", down)
    response = await admin.call("PATCH", BRUTE, json={"max_attempts": 4})
    body = assert_api_error(response, 503, "temporarily_unavailable")
    assert "hunter2" not in body["message"]
    [failed] = admin.stack.events.of_type("fapi")
    assert failed.details["response"]["statusCode"] == 503

    def bug(*args: object, **kwargs: object) -> Any:
        raise KeyError("oops")

    monkeypatch.setattr(passgate.management.attack_protection, "get", bug)
    with caplog.at_level(logging.ERROR, logger="passgate.web"):
        response = await admin.call("GET", BRUTE)
    assert_api_error(response, 500, "server_error", "An internal server error occurred")
    assert "GET /attack-protection/brute-force-protection failed" in caplog.text

    monkeypatch.setattr(RateLimiter, "take", down)
    response = await admin.call("GET", BRUTE)
    assert_api_error(response, 503, "temporarily_unavailable")

    monkeypatch.setattr(RateLimiter, "take", bug)
    with caplog.at_level(logging.ERROR, logger="passgate.web"):
        response = await admin.call("GET", BRUTE)
    assert_api_error(response, 500, "server_error", "An internal server error occurred")
    assert "checking a Management API token failed" in caplog.text


async def test_no_secret_reaches_an_event(admin: Admin) -> None:
    await admin.call("PATCH", BRUTE, json={"max_attempts": 4})
    await admin.call("PATCH", BRUTE, json={"max_attempts": "x" * 5000})
    await admin.call("DELETE", "/user-blocks", params={"identifier": "alice"})
    text = "\n".join(json.dumps(event.to_json()) for event in admin.stack.events.events)
    assert admin.token not in text
    assert admin.token.split(".")[2] not in text
    assert admin.client.secret is not None
    assert admin.client.secret not in text
    assert "x" * 600 not in text  # refused values are cut in the message too


def test_changes_named_like_secrets_are_redacted() -> None:
    assert redacted(
        {"password": "p", "client_secret": "s", "name": "n", "signing_key": "k", "max_attempts": 3}
    ) == {
        "password": "(changed)",
        "client_secret": "(changed)",
        "name": "n",
        "signing_key": "(changed)",
        "max_attempts": 3,
    }
    settings = {"token_endpoint_auth_method": "none", "is_token_endpoint_ip_header_trusted": True,
                "token_lifetime": 60}  # fmt: skip
    assert redacted({**settings, "access_token": "t"}) == {**settings, "access_token": "(changed)"}


async def test_the_openapi_document_describes_what_is_served(admin: Admin) -> None:
    response = await admin.http.get("/api/v2/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "https://passgate.test/api/v2"}]
    schemes = document["components"]["securitySchemes"]
    flow = schemes["oAuth2ClientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://passgate.test/oauth/token"
    assert set(flow["scopes"]) == set(MANAGEMENT_SCOPES)
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert len({op["operationId"] for op in operations.values()}) == len(operations)
    for (method, path), operation in operations.items():
        if path == "/openapi.json":
            assert operation["security"] == []
            continue
        scopes = operation["x-required-scopes"]
        assert scopes
        assert set(scopes) <= set(MANAGEMENT_SCOPES)
        assert operation["security"] == [
            {"bearerAuth": scopes},
            {"oAuth2ClientCredentials": scopes},
        ]
        for status in ("400", "401", "403", "413", "429", "503"):
            assert status in operation["responses"], (method, path)
        limited = operation["responses"]["429"]["headers"]
        assert {"x-ratelimit-limit", "x-ratelimit-reset", "retry-after"} <= set(limited)
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    patch = operations[("patch", BRUTE)]
    body = patch["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert body["properties"]["max_attempts"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert "413" in patch["responses"]
    assert "required" not in body  # a PATCH sends what it changes
    answer = patch["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(answer["required"]) == set(answer["properties"])
    blocks = operations[("get", "/user-blocks")]
    [identifier, enablement] = blocks["parameters"]
    assert identifier == {
        "name": "identifier",
        "in": "query",
        "required": True,
        "description": identifier["description"],
        "schema": {"type": "string", "minLength": 1, "maxLength": 2048},
    }
    assert enablement["schema"] == {"type": "boolean"}
    assert "404" in operations[("get", "/user-blocks/{id}")]["responses"]
    assert operations[("delete", "/anomaly/blocks/ips/{id}")]["responses"]["204"]
    # Every $ref points at something defined.
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref == "#/components/schemas/Error"


async def test_answers_match_the_documented_shapes(admin: Admin) -> None:
    """Every 200 answer of a GET validates against its documented schema (required fields,
    no others, types)."""
    document = (await admin.http.get("/api/v2/openapi.json")).json()
    for path in (BRUTE, "/attack-protection/suspicious-ip-throttling",
                 "/attack-protection/breached-password-detection"):  # fmt: skip
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]
        _conforms((await admin.call("GET", path)).json(), schema)


def _conforms(value: Any, schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        assert set(schema.get("required", [])) <= set(value)
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"])
        for name, inner in schema.get("properties", {}).items():
            if name in value:
                _conforms(value[name], inner)
    elif kind == "array":
        assert isinstance(value, list)
        for item in value:
            _conforms(item, schema["items"])
    elif kind == "integer":
        assert isinstance(value, int)
        assert not isinstance(value, bool)
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value)
    elif kind == "boolean":
        assert isinstance(value, bool)
    elif kind == "string":
        assert isinstance(value, str)
        if "enum" in schema:
            assert value in schema["enum"]


async def test_every_endpoint_refuses_unknown_query_parameters(admin: Admin) -> None:
    for method, path in (
        ("GET", BRUTE),
        ("PATCH", BRUTE),
        ("DELETE", "/anomaly/blocks/ips/192.0.2.1"),
    ):
        kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
        response = await admin.call(method, path, params={"fields": "x"}, **kwargs)
        assert_api_error(
            response,
            400,
            "invalid_query_string",
            "Query validation error: 'Additional properties not allowed: fields'.",
        )
