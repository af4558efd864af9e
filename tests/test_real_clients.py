"""Real third-party OAuth/JWT clients against a real ``passgate serve`` process.

Set up by the CLI (``python -m passgate apis|clients|users create --json``), served by
uvicorn on a free loopback port, and used through requests-oauthlib and Auth0's own SDK,
auth0-python (the Resource Owner Password grant, a refresh, a revocation) with tokens
verified by PyJWT against the JWKS endpoint.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from auth0.authentication import GetToken, RevokeToken
from auth0.authentication.exceptions import Auth0Error
from oauthlib.oauth2 import LegacyApplicationClient
from requests_oauthlib import OAuth2Session

from tests.processes import cli, free_port, server_env

pytestmark = pytest.mark.slow

API = "https://api.real-clients.test/"
PASSWORD = "a long and careful passphrase 42"


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"passgate serve exited with {process.returncode}")
        try:
            if requests.get(base + "health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("passgate serve did not start within 60 seconds")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    # The server listens on plain-HTTP loopback; oauthlib refuses http:// without this.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    env = server_env(tmp_path / "data")
    api = cli(
        env,
        "apis",
        "create",
        "--identifier",
        API,
        "--scope",
        "read:things",
        "--scope",
        "write:things",
        "--allow-offline-access",
    )
    client = cli(
        env,
        "clients",
        "create",
        "--name",
        "Real client",
        "--auth-method",
        "client_secret_post",
        "--grant",
        "password",
        "--grant",
        "password-realm",
        "--grant",
        "refresh_token",
    )
    user = cli(
        env,
        "users",
        "create",
        "--email",
        "carol@example.com",
        "--username",
        "carol",
        "--name",
        "Carol",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "passgate", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_up(base, process)
        yield {"base": base, "api": api, "client": client, "user": user, "env": env}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def _verify(jwks: jwt.PyJWKClient, token: str, audience: str, issuer: str) -> dict[str, Any]:
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256", "ES256"], audience=audience, issuer=issuer, leeway=5
    )
    return claims


def test_requests_oauthlib_password_grant_and_refresh_with_pyjwt_verification(
    server: dict[str, Any],
) -> None:
    base: str = server["base"]
    client_id: str = server["client"]["client_id"]
    client_secret: str = server["client"]["client_secret"]
    user_id: str = server["user"]["user_id"]
    discovery = requests.get(base + ".well-known/openid-configuration", timeout=10).json()
    issuer: str = discovery["issuer"]
    assert issuer == base
    token_url: str = discovery["token_endpoint"]

    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id))
    token = session.fetch_token(
        token_url,
        username="carol",
        password=PASSWORD,
        client_id=client_id,
        client_secret=client_secret,
        include_client_id=True,
        audience=API,
        scope=["openid", "profile", "email", "offline_access"],
    )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 86400

    jwks = jwt.PyJWKClient(discovery["jwks_uri"])
    access = _verify(jwks, token["access_token"], API, issuer)
    assert access["sub"] == user_id
    assert access["azp"] == client_id
    assert {"openid", "read:things", "write:things"} <= set(access["scope"].split())
    identity = _verify(jwks, token["id_token"], client_id, issuer)
    assert identity["sub"] == user_id
    assert identity["email"] == "carol@example.com"
    assert identity["name"] == "Carol"

    userinfo = session.get(base + "userinfo", timeout=10)
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == user_id

    refreshed = session.refresh_token(
        token_url,
        refresh_token=token["refresh_token"],
        client_id=client_id,
        client_secret=client_secret,
        include_client_id=True,
    )
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert _verify(jwks, refreshed["access_token"], API, issuer)["sub"] == user_id

    # The old refresh token is spent: reusing it is refused (and revokes the family).
    reused = requests.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=10,
    )
    assert reused.status_code == 403
    assert reused.json()["error"] == "invalid_grant"


def test_wrong_password_is_an_oauth_error_for_requests_oauthlib(server: dict[str, Any]) -> None:
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    base: str = server["base"]
    client_id: str = server["client"]["client_id"]
    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id))
    with pytest.raises(OAuth2Error) as caught:
        session.fetch_token(
            base + "oauth/token",
            username="carol",
            password="not it",
            client_id=client_id,
            client_secret=server["client"]["client_secret"],
            include_client_id=True,
        )
    assert caught.value.error == "invalid_grant"
    assert caught.value.description == "Wrong email or password."


def test_auth0_python_logs_in_refreshes_with_its_default_scope_and_revokes(
    server: dict[str, Any],
) -> None:
    """Auth0's SDK as an integrator calls it: ``refresh_token`` sends ``scope=""`` unless
    told otherwise, which must keep the granted scopes and the ID token."""
    base: str = server["base"]
    domain = base.removeprefix("http://").rstrip("/")
    client_id: str = server["client"]["client_id"]
    client_secret: str = server["client"]["client_secret"]
    user_id: str = server["user"]["user_id"]
    jwks = jwt.PyJWKClient(base + ".well-known/jwks.json")
    tokens = GetToken(domain, client_id, client_secret=client_secret, protocol="http")

    login = tokens.login(
        username="carol",
        password=PASSWORD,
        realm="Username-Password-Authentication",
        scope="openid profile offline_access",
        audience=API,
        forwarded_for="198.51.100.77",
    )
    granted = {"openid", "profile", "offline_access", "read:things", "write:things"}
    assert set(_verify(jwks, login["access_token"], API, base)["scope"].split()) == granted

    refreshed = tokens.refresh_token(login["refresh_token"])
    access = _verify(jwks, refreshed["access_token"], API, base)
    assert access["sub"] == user_id
    assert set(access["scope"].split()) == granted
    assert _verify(jwks, refreshed["id_token"], client_id, base)["sub"] == user_id
    narrowed = tokens.refresh_token(refreshed["refresh_token"], scope="read:things")
    assert _verify(jwks, narrowed["access_token"], API, base)["scope"] == "read:things"

    revoker = RevokeToken(domain, client_id, client_secret=client_secret, protocol="http")
    revoker.revoke_refresh_token(narrowed["refresh_token"])
    with pytest.raises(Auth0Error) as caught:
        tokens.refresh_token(narrowed["refresh_token"])
    assert caught.value.status_code == 403
    assert caught.value.error_code == "invalid_grant"
    # The audit trail, as the server wrote it: the revocation, then the refused refresh.
    revocations = _logged(server["env"], "srrt")
    assert [(e["client_id"], e["user_id"]) for e in revocations] == [(client_id, user_id)]
    (refused,) = _logged(server["env"], "fertft")
    assert refused["details"]["reason"] == "refresh token revoked"


def _logged(env: dict[str, str], event_type: str) -> list[dict[str, Any]]:
    """The server's events of ``event_type`` once it has written any (it writes in the
    background, within milliseconds)."""
    deadline = time.monotonic() + 10
    while True:
        found: list[dict[str, Any]] = cli(env, "logs", "--type", event_type)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
