"""How answers become errors, for answers a real passgate does not give on demand (a
Retry-After, a 5xx, something that is not passgate), through httpx's mock transport; and
the published API."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest

import passgate_client
from passgate_client import (
    AccountBlocked,
    AsyncPassgateClient,
    InvalidCredentials,
    IpThrottled,
    PassgateClient,
    PassgateError,
    RequestRefused,
    ServiceUnavailable,
    TooManyAttempts,
    TooManyLogins,
    UserBlocked,
)
from passgate_client._errors import (
    BRUTE_FORCE_MESSAGE,
    SUSPICIOUS_IP_MESSAGE,
    TOO_MANY_LOGINS_MESSAGE,
    retry_after_seconds,
)

SECRET = "s3cret-value"


def client_answering(status: int, body: Any = None, **headers: str) -> PassgateClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    http = httpx.Client(transport=httpx.MockTransport(answer))
    return PassgateClient("http://passgate.test", "app", SECRET, http_client=http)


def login(client: PassgateClient) -> None:
    client.login("someone@example.com", "pw", end_user_ip="198.51.100.1")


def refusal(status: int, error: str, description: str, **headers: str) -> PassgateError:
    with pytest.raises(PassgateError) as raised:
        login(
            client_answering(status, {"error": error, "error_description": description}, **headers)
        )
    return raised.value


def test_the_three_429s_are_told_apart_by_passgates_wording() -> None:
    assert type(refusal(429, "too_many_attempts", BRUTE_FORCE_MESSAGE)) is AccountBlocked
    assert type(refusal(429, "too_many_attempts", SUSPICIOUS_IP_MESSAGE)) is IpThrottled
    assert type(refusal(429, "too_many_attempts", TOO_MANY_LOGINS_MESSAGE)) is TooManyLogins
    unknown = refusal(429, "too_many_attempts", "Slow down.")
    assert type(unknown) is TooManyAttempts


def test_passgates_wordings_are_the_servers() -> None:
    server_errors = pytest.importorskip("passgate.errors")
    guard = pytest.importorskip("passgate.protection.guard")
    assert server_errors.BRUTE_FORCE_MESSAGE == BRUTE_FORCE_MESSAGE
    assert server_errors.SUSPICIOUS_IP_MESSAGE == SUSPICIOUS_IP_MESSAGE
    assert guard.SUL_MESSAGE == TOO_MANY_LOGINS_MESSAGE


def test_retry_after_in_seconds_or_as_a_date() -> None:
    error = refusal(429, "too_many_attempts", SUSPICIOUS_IP_MESSAGE, **{"Retry-After": "120"})
    assert isinstance(error, IpThrottled)
    assert error.retry_after == 120.0
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    error = refusal(429, "too_many_attempts", BRUTE_FORCE_MESSAGE, **{"Retry-After": later})
    assert isinstance(error, AccountBlocked)
    assert error.retry_after is not None
    assert 55 <= error.retry_after <= 61
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("-5") is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_server_faults_and_strangers_are_service_unavailable() -> None:
    for status, body in (
        (503, {"error": "temporarily_unavailable", "error_description": "Redis is down"}),
        (500, b"Internal Server Error"),
        (502, b"<html>Bad gateway</html>"),
        (200, b"<html>a captive portal</html>"),
        (200, {"no": "token"}),
        (404, b"not found"),
    ):
        with pytest.raises(ServiceUnavailable) as raised:
            login(client_answering(status, body))
        assert raised.value.user_message.startswith("The sign-in service")


def test_an_administrator_block_and_configuration_errors() -> None:
    blocked = refusal(401, "unauthorized", "user is blocked")
    assert isinstance(blocked, UserBlocked)
    assert blocked.user_message.startswith("This account")
    for status, code in (
        (401, "invalid_client"),
        (403, "unauthorized_client"),
        (403, "access_denied"),
        (400, "invalid_request"),
        (400, "invalid_scope"),
    ):
        error = refusal(status, code, "details for the app's log")
        assert isinstance(error, RequestRefused)
        assert (error.code, error.status) == (code, status)
        assert error.description == "details for the app's log"
        assert error.user_message == "Something went wrong. Please try again later."
    assert isinstance(refusal(403, "invalid_grant", "Wrong email or password."), InvalidCredentials)


def test_no_secret_or_password_in_errors_or_reprs() -> None:
    error = refusal(401, "invalid_client", "Client authentication failed.")
    client = client_answering(200, {})
    for text in (str(error), repr(error), repr(client)):
        assert SECRET not in text
        assert "pw" not in text.split()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_maps_answers_alike() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"error": "too_many_attempts", "error_description": SUSPICIOUS_IP_MESSAGE}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with AsyncPassgateClient("http://passgate.test", "app", "s", http_client=http) as c:
        with pytest.raises(IpThrottled) as raised:
            await c.login("someone@example.com", "pw", end_user_ip="198.51.100.1")
    await http.aclose()
    assert raised.value.retry_after == 7.0


def test_the_request_carries_the_header_and_the_grant() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "a", "expires_in": 60})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    client = PassgateClient("http://passgate.test/base", "app", SECRET, http_client=http)
    client.login("u", "p", end_user_ip="2001:DB8::1", realm="db", audience="aud", scope="openid")
    [request] = seen
    assert str(request.url) == "http://passgate.test/base/oauth/token"
    assert request.headers["auth0-forwarded-for"] == "2001:db8::1"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "username": "u",
        "password": "p",
        "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
        "realm": "db",
        "audience": "aud",
        "scope": "openid",
        "client_id": "app",
        "client_secret": SECRET,
    }


def test_the_public_api_is_exactly_all() -> None:
    adapters = {"django", "flask", "fastapi"}  # submodules, once imported
    public = {name for name in dir(passgate_client) if not name.startswith("_")} - adapters
    assert public == set(passgate_client.__all__) - {"__version__"}
    for name in passgate_client.__all__:
        assert getattr(passgate_client, name) is not None
    errors = [
        getattr(passgate_client, name)
        for name in passgate_client.__all__
        if isinstance(getattr(passgate_client, name), type)
        and issubclass(getattr(passgate_client, name), PassgateError)
    ]
    assert len(errors) == 13  # the base and its twelve kinds
    for error in errors:
        assert error("code").user_message


def test_the_kit_never_imports_the_server_or_a_framework_in_its_core() -> None:
    """The kit is its own distribution: the server's packages are not its dependencies,
    and only the adapters import a web framework."""
    import ast
    from pathlib import Path

    package = Path(passgate_client.__file__).parent
    adapters = {"django.py", "flask.py", "fastapi.py"}
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0
        }
        assert "passgate" not in imported, path.name
        if path.name not in adapters:
            assert not imported & {"django", "flask", "fastapi", "starlette", "werkzeug"}, path
