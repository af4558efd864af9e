"""The Django backend, the Flask helper and the FastAPI dependencies, each with the real
framework, against a real passgate (one server for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from passgate_client import (
    AsyncPassgateClient,
    InvalidCredentials,
    PasswordRejected,
    UntrustedAddress,
)
from passgate_server import API, PASSWORD, Server, start_server

pytestmark = pytest.mark.slow

PROXY = "10.0.0.1"
TRUSTED = ["10.0.0.0/8"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("kit-adapters") / "data"
    for server in start_server(data):
        server.create_user("frank@example.com")
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- Django ----------------------------------------------------------------------------
@pytest.mark.usefixtures("django_configured")
def test_django_backend_logs_in_with_the_forwarded_ip(server: Server) -> None:
    from django.contrib.auth import authenticate
    from django.test import RequestFactory, override_settings

    config = {
        "BASE_URL": server.base,
        "CLIENT_ID": server.client_id,
        "CLIENT_SECRET": server.client_secret,
        "TRUSTED_PROXIES": TRUSTED,
    }
    factory = RequestFactory()
    with override_settings(PASSGATE=config):
        request: Any = factory.post(
            "/login", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.70"
        )
        user = authenticate(request, username="frank@example.com", password=PASSWORD)
        assert user is not None
        assert user.get_username().startswith("auth0|")
        assert user.email == "frank@example.com"
        assert request.passgate_tokens.access_token
        again = authenticate(request, username="frank@example.com", password=PASSWORD)
        assert again is not None
        assert again.pk == user.pk

        wrong: Any = factory.post("/login", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.71")
        assert authenticate(wrong, username="frank@example.com", password="nope") is None
        assert isinstance(wrong.passgate_error, InvalidCredentials)

        # A proxy missing from TRUSTED_PROXIES: loud, not every user on one address.
        direct: Any = factory.post("/login", REMOTE_ADDR="192.168.0.9")
        with pytest.raises(UntrustedAddress):
            authenticate(direct, username="frank@example.com", password=PASSWORD)
    [event] = server.events("--type", "fepft", "--ip", "198.51.100.71", "--limit", "1")
    assert event["client_ip"] == "127.0.0.1"
    [event] = server.events("--type", "sepft", "--ip", "198.51.100.70", "--limit", "1")
    assert event["user_name"] == "frank@example.com"


# -- Flask -----------------------------------------------------------------------------
def test_flask_helper_logs_in_with_the_forwarded_ip(server: Server) -> None:
    from flask import Flask, request

    from passgate_client import PassgateError
    from passgate_client.flask import Passgate

    app = Flask(__name__)
    app.config.update(
        PASSGATE_BASE_URL=server.base,
        PASSGATE_CLIENT_ID=server.client_id,
        PASSGATE_CLIENT_SECRET=server.client_secret,
        PASSGATE_TRUSTED_PROXIES=TRUSTED,
    )
    passgate = Passgate(app)

    @app.post("/login")
    def login() -> tuple[dict[str, str], int]:
        try:
            tokens = passgate.login(request.form["email"], request.form["password"])
        except PassgateError as error:
            return {"message": error.user_message, "ip": passgate.end_user_ip()}, 400
        return {"sub": passgate.client.userinfo(tokens.access_token)["sub"]}, 200

    web = app.test_client()
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.80"}
    environ = {"REMOTE_ADDR": PROXY}
    ok = web.post(
        "/login",
        data={"email": "frank@example.com", "password": PASSWORD},
        headers=headers,
        environ_base=environ,
    )
    assert ok.status_code == 200
    assert ok.json is not None
    assert ok.json["sub"].startswith("auth0|")
    bad = web.post(
        "/login",
        data={"email": "frank@example.com", "password": "nope"},
        headers=headers,
        environ_base=environ,
    )
    assert bad.json == {"message": "Wrong email or password.", "ip": "198.51.100.80"}
    [event] = server.events("--type", "sepft", "--ip", "198.51.100.80", "--limit", "1")
    assert event["client_ip"] == "127.0.0.1"


# -- FastAPI ---------------------------------------------------------------------------
class Credentials(BaseModel):
    email: str
    password: str


@pytest.mark.anyio
async def test_fastapi_dependencies_and_error_handler(server: Server) -> None:
    from fastapi import Depends, FastAPI

    from passgate_client import PassgateError
    from passgate_client.fastapi import BearerClaims, EndUserIp, passgate_error_handler

    passgate = AsyncPassgateClient(server.base, server.client_id, server.client_secret)
    app = FastAPI()
    app.add_exception_handler(PassgateError, passgate_error_handler)
    client_ip = EndUserIp(TRUSTED)

    @app.post("/login")
    async def login(credentials: Credentials, ip: str = Depends(client_ip)) -> dict[str, str]:
        tokens = await passgate.login(
            credentials.email, credentials.password, end_user_ip=ip, audience=API
        )
        return {"access_token": tokens.access_token}

    @app.post("/signup")
    async def signup(credentials: Credentials) -> dict[str, str]:
        created = await passgate.signup(credentials.email, credentials.password)
        return {"user_id": created.user_id}

    @app.get("/me")
    async def me(claims: dict[str, Any] = Depends(BearerClaims(passgate, API))) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    transport = httpx.ASGITransport(app=app, client=(PROXY, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as web:
        headers = {"X-Forwarded-For": "6.6.6.6, 2001:db8::90"}
        body = {"email": "frank@example.com", "password": PASSWORD}
        answer = await web.post("/login", json=body, headers=headers)
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        mine = await web.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200
        assert mine.json()["sub"].startswith("auth0|")
        refused = await web.get("/me", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert (await web.get("/me")).status_code == 401
        wrong = await web.post("/login", json={**body, "password": "nope"}, headers=headers)
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"error": "invalid_grant", "message": "Wrong email or password."},
        )
        weak = await web.post("/signup", json={"email": "gina@example.com", "password": "x"})
        assert weak.status_code == 400
        assert weak.json()["error"] == PasswordRejected("invalid_password").code
    await passgate.aclose()
    [event] = server.events("--type", "sepft", "--ip", "2001:db8::90", "--limit", "1")
    assert event["client_ip"] == "127.0.0.1"
