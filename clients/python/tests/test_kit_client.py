"""PassgateClient and AsyncPassgateClient against a real passgate: logins, tokens, sign-up,
password change, userinfo, revocation and access-token verification (one server for the
module)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from passgate_client import (
    AsyncPassgateClient,
    InvalidCredentials,
    InvalidToken,
    PassgateClient,
    PasswordRejected,
    RequestRefused,
    ServiceUnavailable,
    SignupRefused,
)
from passgate_server import API, PASSWORD, Server, start_server

pytestmark = pytest.mark.slow

END_USER = "198.51.100.7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("kit-client") / "data"
    yield from start_server(data)


@pytest.fixture(scope="module")
def alice(server: Server) -> str:
    return server.create_user("alice@example.com")


@pytest.fixture
def client(server: Server) -> Iterator[PassgateClient]:
    with PassgateClient(server.base, server.client_id, server.client_secret) as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_login_returns_tokens_and_the_end_user_ip_reaches_passgates_events(
    server: Server, alice: str, client: PassgateClient
) -> None:
    tokens = client.login(
        "alice@example.com",
        PASSWORD,
        end_user_ip=END_USER,
        audience=API,
        scope="openid profile email offline_access",
    )
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in == 86400
    assert tokens.id_token
    assert tokens.refresh_token
    assert tokens.access_token
    assert tokens.scope is not None
    assert "read:things" in tokens.scope
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)
    [event] = server.events("--type", "sepft", "--user", alice, "--limit", "1")
    assert event["ip"] == END_USER
    assert event["client_ip"] == "127.0.0.1"
    assert event["user_agent"] == "passgate-client/0.1.0"


def test_password_realm_login_names_the_connection(alice: str, client: PassgateClient) -> None:
    tokens = client.login(
        "alice@example.com",
        PASSWORD,
        end_user_ip=END_USER,
        realm="Username-Password-Authentication",
    )
    assert tokens.access_token
    with pytest.raises(RequestRefused) as refused:
        client.login("alice@example.com", PASSWORD, end_user_ip=END_USER, realm="No-Such-DB")
    assert refused.value.status is not None
    assert 400 <= refused.value.status < 500


def test_wrong_password_and_unknown_user_are_one_error(alice: str, client: PassgateClient) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        client.login("alice@example.com", "not the password", end_user_ip="198.51.100.8")
    with pytest.raises(InvalidCredentials) as unknown:
        client.login("nobody@example.com", "not the password", end_user_ip="198.51.100.8")
    assert (wrong.value.code, wrong.value.status, wrong.value.user_message) == (
        unknown.value.code,
        unknown.value.status,
        unknown.value.user_message,
    )
    assert wrong.value.code == "invalid_grant"
    assert "alice" not in str(wrong.value)


def test_client_secret_basic_is_sent_as_http_basic(server: Server, alice: str) -> None:
    server.cli("clients", "set-auth-method", server.untrusted_id, "client_secret_basic")
    seen: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [seen.append]})
    with PassgateClient(
        server.base,
        server.untrusted_id,
        server.untrusted_secret,
        auth_method="client_secret_basic",
        http_client=http,
    ) as basic:
        assert basic.login("alice@example.com", PASSWORD, end_user_ip=END_USER).access_token
    http.close()
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in seen[0].content


def test_wrong_client_secret_is_a_request_refused_not_the_users_fault(
    server: Server, alice: str
) -> None:
    bad = PassgateClient(server.base, server.client_id, "wrong secret")
    with bad, pytest.raises(RequestRefused) as refused:
        bad.login("alice@example.com", PASSWORD, end_user_ip=END_USER)
    assert (refused.value.code, refused.value.status) == ("invalid_client", 401)
    assert refused.value.user_message == "Something went wrong. Please try again later."


def test_end_user_ip_must_be_one_address(client: PassgateClient) -> None:
    for bad in ("", "1.2.3.4, 5.6.7.8", "example.com", "1.2.3.4\n"):
        with pytest.raises(ValueError, match="end_user_ip"):
            client.login("alice@example.com", PASSWORD, end_user_ip=bad)


def test_refresh_rotates_and_revoke_ends_the_family(alice: str, client: PassgateClient) -> None:
    first = client.login(
        "alice@example.com", PASSWORD, end_user_ip=END_USER, audience=API, scope="offline_access"
    )
    assert first.refresh_token is not None
    second = client.refresh(first.refresh_token, end_user_ip=END_USER)
    assert second.access_token
    assert second.refresh_token
    assert second.refresh_token != first.refresh_token
    client.revoke(second.refresh_token)
    with pytest.raises(InvalidToken) as refused:
        client.refresh(second.refresh_token)
    assert refused.value.code == "invalid_grant"
    assert refused.value.user_message == "Your session has ended. Please sign in again."


def test_userinfo_gives_the_claims_and_refuses_a_bad_token(
    alice: str, client: PassgateClient
) -> None:
    tokens = client.login("alice@example.com", PASSWORD, end_user_ip=END_USER, scope="openid email")
    claims = client.userinfo(tokens.access_token)
    assert claims["sub"] == alice
    assert claims["email"] == "alice@example.com"
    with pytest.raises(InvalidToken):
        client.userinfo(tokens.access_token[:-4] + "AAAA")


def test_signup_then_login_and_the_policy_and_taken_refusals(client: PassgateClient) -> None:
    created = client.signup("bob@example.com", PASSWORD, username="bob", given_name="Bob")
    assert created.user_id.startswith("auth0|")
    assert (created.email, created.username, created.email_verified) == (
        "bob@example.com",
        "bob",
        False,
    )
    assert client.login("bob", PASSWORD, end_user_ip=END_USER).access_token
    with pytest.raises(PasswordRejected) as weak:
        client.signup("carol@example.com", "short")
    assert weak.value.code == "invalid_password"
    assert weak.value.failed_rules == ["At least 8 characters in length"]
    assert weak.value.user_message == (
        "This password is not allowed: At least 8 characters in length."
    )
    assert [rule["code"] for rule in weak.value.rules] == ["lengthAtLeast", "lengthAtMost"]
    with pytest.raises(SignupRefused) as taken:
        client.signup("bob@example.com", PASSWORD)
    assert taken.value.code == "invalid_signup"
    assert "already" in taken.value.user_message  # no "this email is taken"


def test_change_password_answers_alike_for_known_and_unknown_addresses(
    server: Server, alice: str, client: PassgateClient
) -> None:
    client.change_password("alice@example.com")
    client.change_password("nobody@example.com")
    with pytest.raises(RequestRefused) as refused:
        client.change_password("alice@example.com", connection="No-Such-DB")
    assert refused.value.code == "bad.connection"


def _forge(token: str, **header: str) -> str:
    """``token`` with header fields changed (its signature no longer matches)."""
    head, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    decoded.update(header)
    raw = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{raw}.{payload}.{signature}"


def _kid(token: str) -> str:
    head = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


def test_verify_access_token_checks_signature_audience_and_issuer(
    server: Server, alice: str, client: PassgateClient
) -> None:
    tokens = client.login("alice@example.com", PASSWORD, end_user_ip=END_USER, audience=API)
    claims = client.verify_access_token(tokens.access_token, API)
    assert (claims["sub"], claims["iss"]) == (alice, server.base)
    with pytest.raises(InvalidToken, match="aud"):
        client.verify_access_token(tokens.access_token, "https://other.api/")
    with pytest.raises(InvalidToken):
        client.verify_access_token(tokens.access_token[:-6] + "AAAAAA", API)
    with pytest.raises(InvalidToken):
        client.verify_access_token("not.a.jwt", API)
    with pytest.raises(InvalidToken):
        client.verify_access_token(_forge(tokens.access_token, alg="none"), API)
    with (
        PassgateClient(
            server.base, server.client_id, server.client_secret, issuer="https://elsewhere/"
        ) as other,
        pytest.raises(InvalidToken, match="iss"),
    ):
        other.verify_access_token(tokens.access_token, API)


def test_jwks_is_cached_and_refetched_on_an_unknown_kid_at_a_bounded_rate(
    server: Server, alice: str
) -> None:
    fetched: list[str] = []

    def count(request: httpx.Request) -> None:
        if request.url.path.endswith("jwks.json"):
            fetched.append(request.url.path)

    http = httpx.Client(event_hooks={"request": [count]})
    with PassgateClient(
        server.base,
        server.client_id,
        server.client_secret,
        http_client=http,
        jwks_refetch_interval=1.0,
    ) as client:
        before = client.login("alice@example.com", PASSWORD, end_user_ip=END_USER, audience=API)
        for _ in range(3):
            client.verify_access_token(before.access_token, API)
        assert len(fetched) == 1
        # A forged kid: one refetch at most per interval, then refused without a fetch.
        for _ in range(5):
            with pytest.raises(InvalidToken):
                client.verify_access_token(_forge(before.access_token, kid="forged"), API)
        assert len(fetched) == 1  # the interval since the first fetch has not passed
        server.cli("keys", "rotate")
        deadline = time.monotonic() + 10
        while True:  # a running server takes up a rotated key within a moment
            after = client.login("alice@example.com", PASSWORD, end_user_ip=END_USER, audience=API)
            if _kid(after.access_token) != _kid(before.access_token):
                break
            assert time.monotonic() < deadline, "the server never signed with the new key"
            time.sleep(0.2)
        time.sleep(1.1)
        assert client.verify_access_token(after.access_token, API)["sub"] == alice
        assert len(fetched) == 2
        assert client.verify_access_token(before.access_token, API)["sub"] == alice
        assert len(fetched) == 2
    http.close()


def test_an_unreachable_passgate_is_service_unavailable() -> None:
    down = PassgateClient("http://127.0.0.1:9/", "id", "secret", timeout=2)
    with down, pytest.raises(ServiceUnavailable) as refused:
        down.login("alice@example.com", PASSWORD, end_user_ip=END_USER)
    assert refused.value.code == "network_error"
    assert refused.value.user_message.startswith("The sign-in service is temporarily")


@pytest.mark.anyio
async def test_async_client_does_the_same(server: Server, alice: str) -> None:
    async with AsyncPassgateClient(server.base, server.client_id, server.client_secret) as client:
        tokens = await client.login(
            "alice@example.com",
            PASSWORD,
            end_user_ip="2001:db8::7",
            audience=API,
            scope="openid email offline_access",
        )
        assert (await client.verify_access_token(tokens.access_token, API))["sub"] == alice
        assert (await client.userinfo(tokens.access_token))["email"] == "alice@example.com"
        assert tokens.refresh_token is not None
        renewed = await client.refresh(tokens.refresh_token)
        assert renewed.refresh_token is not None
        await client.revoke(renewed.refresh_token)
        with pytest.raises(InvalidToken):
            await client.refresh(renewed.refresh_token)
        with pytest.raises(InvalidCredentials):
            await client.login("alice@example.com", "wrong", end_user_ip="2001:db8::7")
        created = await client.signup("dave@example.com", PASSWORD)
        assert created.email == "dave@example.com"
        with pytest.raises(PasswordRejected):
            await client.signup("erin@example.com", "short")
        await client.change_password("dave@example.com")
    [event] = server.events("--type", "sepft", "--ip", "2001:db8::7", "--limit", "1")
    assert (event["ip"], event["client_ip"]) == ("2001:db8::7", "127.0.0.1")
