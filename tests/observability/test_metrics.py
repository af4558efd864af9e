"""``/metrics`` of a passgate built in process: what each request and decision counts,
bounded labels, and the bearer token in front of it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from passgate.app import Passgate, create_app
from passgate.domain.events import Event
from passgate.errors import BRUTE_FORCE_MESSAGE, SUSPICIOUS_IP_MESSAGE
from passgate.observability.events import protection_reasons
from passgate.settings import Settings
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.testing import CapturedEvents, ManualClock
from tests.oauth.conftest import World, asgi_client, build_world, make_settings

TOKEN = "a-metrics-token-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def world_with(tmp_path: Path, sql_url: str, **overrides: Any) -> World:
    events = CapturedEvents()
    clock = ManualClock()
    passgate = Passgate(make_settings(tmp_path, sql_url, **overrides), clock=clock, events=events)
    return build_world(passgate, events, clock)


@pytest.fixture
def world(tmp_path: Path, sql_url: str) -> Iterator[World]:
    built = world_with(tmp_path, sql_url, metrics=True, metrics_token=TOKEN)
    try:
        yield built
    finally:
        built.passgate.close()


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(world.app) as client:
        yield client


async def scrape(http: httpx.AsyncClient) -> str:
    answer = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return answer.text


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, number = line.rsplit(" ", 1)
        if series.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(number)
    return total


@pytest.mark.anyio
async def test_token_requests_are_timed_by_grant_and_outcome(
    world: World, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/oauth/token", data=world.password_form())).status_code == 200
    wrong = world.password_form(password="not it")
    assert (await http.post("/oauth/token", data=wrong)).status_code == 403
    await http.post("/oauth/token", data={"client_id": world.post.id})
    await http.post("/oauth/token", data={"grant_type": "urn:made:up:" + "x" * 300})
    await http.post("/oauth/token", content=b"{", headers={"content-type": "application/json"})
    text = await scrape(http)
    histogram = "passgate_token_request_duration_seconds_count"
    assert value(text, histogram, grant="password", outcome="success") == 1
    assert value(text, histogram, grant="password", outcome="invalid_grant") == 1
    assert value(text, histogram, grant="none", outcome="invalid_request") == 2
    assert value(text, histogram, grant="other", outcome="unsupported_grant_type") == 1
    assert "urn:made:up" not in text
    assert value(text, "passgate_events_total", type="sepft", client=world.post.id) == 1
    assert value(text, "passgate_events_total", type="fepft", client=world.post.id) == 1
    assert value(text, "passgate_events_total", type="fepft", client="none") == 3
    assert value(text, "passgate_password_hash_duration_seconds_count", operation="verify") == 2


@pytest.mark.anyio
async def test_protection_decisions_are_counted_by_reason(
    world: World, http: httpx.AsyncClient
) -> None:
    protection = world.passgate.management.attack_protection
    protection.update("brute-force-protection", {"max_attempts": 2})
    wrong = world.password_form(password="not it")
    statuses = [(await http.post("/oauth/token", data=wrong)).status_code for _ in range(4)]
    assert statuses == [403, 403, 429, 429]
    # auth0-forwarded-for from a client not trusted to send it: ignored, and counted.
    ignored = await http.post(
        "/oauth/token",
        data=world.password_form(username="bob@partners.example"),
        headers={"auth0-forwarded-for": "198.51.100.7"},
    )
    assert ignored.status_code == 403
    world.passgate.directory.create_user(
        connection=DEFAULT_CONNECTION,
        email="leaky@example.com",
        password_hash=world.passgate.hasher.hash("AUTH0-TEST-leaky"),
    )
    leaked = world.password_form(username="leaky@example.com", password="AUTH0-TEST-leaky")
    assert (await http.post("/oauth/token", data=leaked)).status_code == 401
    text = await scrape(http)
    decisions = "passgate_protection_decisions_total"
    assert value(text, decisions, reason="brute_force_block") == 2
    assert value(text, decisions, reason="breached") == 1
    assert value(text, decisions, reason="ip_header_ignored") == 1
    assert value(text, decisions, reason="ip_throttle") == 0
    assert value(text, "passgate_events_total", type="limit_wc") == 1


def _event(kind: str, **details: Any) -> Event:
    return Event(type=kind, details=details)


@pytest.mark.parametrize(
    ("event", "reasons"),
    [
        (_event("fepft", error={"error": "too_many_attempts", "message": BRUTE_FORCE_MESSAGE}),
         ["brute_force_block"]),
        (_event("fepft", error={"error": "too_many_attempts", "message": SUSPICIOUS_IP_MESSAGE}),
         ["ip_throttle"]),
        (_event("fs", error={"code": "too_many_attempts", "message": SUSPICIOUS_IP_MESSAGE}),
         ["ip_throttle"]),
        (_event("limit_sul", error="too_many_logins"), ["limit_sul"]),
        # the token request refused by limit_sul is counted once, by its limit_sul event
        (_event("fepft", error={"error": "too_many_attempts", "message": "Too many logins"}), []),
        (_event("fepft", error={"error": "password_leaked", "message": "..."}), ["breached"]),
        (_event("fs", error={"code": "password_leaked", "message": "..."}), ["breached"]),
        (_event("sepft", ip_header="the client is not trusted"), ["ip_header_ignored"]),
        (_event("fepft", error={"error": "invalid_grant"}), []),
        (_event("sepft"), []),
    ],
)  # fmt: skip
def test_protection_reasons_come_from_the_events(event: Event, reasons: list[str]) -> None:
    assert protection_reasons(event) == reasons


@pytest.mark.anyio
async def test_client_labels_past_the_cap_are_other(tmp_path: Path, sql_url: str) -> None:
    world = world_with(tmp_path, sql_url, metrics=True, metrics_max_clients=1)
    try:
        async with asgi_client(world.app) as http:
            await http.post("/oauth/token", data=world.password_form())
            await http.post("/oauth/token", data=world.password_form(world.password_only))
            text = (await http.get("/metrics")).text
        assert value(text, "passgate_events_total", client=world.post.id) == 1
        assert value(text, "passgate_events_total", client="other") == 1
        assert world.password_only.id not in text
    finally:
        world.passgate.close()


@pytest.mark.anyio
async def test_management_api_calls_are_counted_by_status(
    world: World, http: httpx.AsyncClient
) -> None:
    await http.get("/api/v2/logs")
    await http.get("/api/v2/logs", headers={"Authorization": "Bearer nope"})
    await http.delete("/api/v2/nothing-here")
    text = await scrape(http)
    calls = "passgate_management_api_requests_total"
    assert value(text, calls, method="GET", status="401") == 2
    assert value(text, calls, method="DELETE", status="404") == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
     f"Bearer {TOKEN[:-1]}", f"bearer{TOKEN}"],
)  # fmt: skip
async def test_the_token_guards_metrics(http: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await http.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "passgate_" not in answer.text
    assert TOKEN not in answer.text


@pytest.mark.anyio
async def test_the_scheme_is_case_insensitive(http: httpx.AsyncClient) -> None:
    answer = await http.get("/metrics", headers={"Authorization": f"bEaReR {TOKEN}"})
    assert answer.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "overrides", [{}, {"metrics": True, "metrics_port": 9999}], ids=["off", "own-port"]
)
async def test_no_metrics_on_the_main_port_when_off_or_elsewhere(
    tmp_path: Path, sql_url: str, overrides: dict[str, Any]
) -> None:
    world = world_with(tmp_path, sql_url, **overrides)
    try:
        async with asgi_client(world.app) as http:
            assert (await http.get("/metrics")).status_code == 404
    finally:
        world.passgate.close()


def test_without_a_token_metrics_are_open(tmp_path: Path, sql_url: str) -> None:
    world = world_with(tmp_path, sql_url, metrics=True)
    try:
        app = create_app(world.passgate)
        assert any(getattr(route, "path", "") == "/metrics" for route in app.routes)
    finally:
        world.passgate.close()


@pytest.mark.parametrize(
    "token", ["", "short", "sixteen chars ok", "tab\tinside-0123456", "é" * 20]
)
def test_a_weak_or_odd_metrics_token_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token=SecretStr(token))


@pytest.mark.parametrize(("text", "on"), [("on", True), ("off", False), ("true", True)])
def test_metrics_reads_on_and_off(monkeypatch: pytest.MonkeyPatch, text: str, on: bool) -> None:
    monkeypatch.setenv("PASSGATE_METRICS", text)
    assert Settings().metrics is on
