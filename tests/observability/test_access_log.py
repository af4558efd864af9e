"""One access line per request, and the request id that ties it to the answer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passgate.app import create_app
from passgate.support.logs import REDACTED, access_logger, configure_logging
from tests.oauth.conftest import World, asgi_client
from tests.observability.test_metrics import world_with

TRUSTED_IP = "198.51.100.77"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path, sql_url: str) -> Iterator[World]:
    built = world_with(tmp_path, sql_url)
    try:
        yield built
    finally:
        built.passgate.close()


class Logged:
    def __init__(self, world: World, fmt: str = "json") -> None:
        self.stream = io.StringIO()
        self.app = create_app(world.passgate, access_log=access_logger(fmt, stream=self.stream))  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.mark.anyio
async def test_each_request_writes_one_json_line_with_its_facts(world: World) -> None:
    logged = Logged(world)
    world.passgate.applications.set_ip_header_trusted(world.post.id, True)
    async with asgi_client(logged.app) as http:
        ok = await http.post(
            "/oauth/token",
            data=world.password_form(),
            headers={"auth0-forwarded-for": TRUSTED_IP},
        )
        await http.get("/nothing?ticket=abc")
    assert ok.status_code == 200
    token_line, missing_line = logged.records()
    assert token_line == {
        "event": "request",
        "method": "POST",
        "path": "/oauth/token",
        "status": 200,
        "latency_ms": token_line["latency_ms"],
        "grant": "password",
        "outcome": "success",
        "ip": TRUSTED_IP,
        "client_ip": "127.0.0.1",
        "client_id": world.post.id,
        "request_id": ok.headers["x-request-id"],
        "timestamp": token_line["timestamp"],
        "level": "info",
    }
    assert isinstance(token_line["latency_ms"], float)
    assert token_line["latency_ms"] > 0
    assert token_line["timestamp"].endswith("Z")
    assert missing_line["path"] == "/nothing"
    assert missing_line["status"] == 404
    assert missing_line["grant"] is None
    assert missing_line["ip"] == missing_line["client_ip"] == "127.0.0.1"
    assert "abc" not in logged.stream.getvalue()


@pytest.mark.anyio
async def test_refusals_log_their_outcome(world: World) -> None:
    logged = Logged(world)
    async with asgi_client(logged.app) as http:
        await http.post("/oauth/token", data=world.password_form(password="nope"))
        await http.post("/oauth/token", data={"grant_type": "bogus\ngrant"})
        await http.post("/oauth/token", data=world.password_form(client_secret="wrong"))
    first, second, third = logged.records()
    assert (first["status"], first["outcome"], first["grant"]) == (403, "invalid_grant", "password")
    assert (second["status"], second["outcome"], second["grant"]) == (
        400, "unsupported_grant_type", "other",
    )  # fmt: skip
    assert (third["status"], third["outcome"], third["client_id"]) == (401, "invalid_client", None)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("0d3e1f2a-9b8c-4d7e-a6f5-0123456789ab", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("has space", False),
        ('quote"d', False),
        ("naïve", False),
    ],
)
async def test_a_sane_request_id_is_kept_else_one_is_made(
    world: World, sent: str, kept: bool
) -> None:
    logged = Logged(world)
    async with asgi_client(logged.app) as http:
        headers = [(b"x-request-id", sent.encode("utf-8"))]
        answer = await http.get("/health", headers=headers)
    (line,) = logged.records()
    assert answer.headers["x-request-id"] == line["request_id"]
    if kept:
        assert line["request_id"] == sent
    else:
        assert line["request_id"] != sent
        assert len(line["request_id"]) == 20


@pytest.mark.anyio
async def test_made_request_ids_differ_and_every_answer_has_one(world: World) -> None:
    logged = Logged(world)
    async with asgi_client(logged.app) as http:
        answers = [
            await http.get("/health"),
            await http.post("/oauth/token", data={}),
            await http.get("/.well-known/jwks.json"),
            await http.post("/dbconnections/signup", json={}),
            await http.get("/api/v2/logs"),
        ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids)
    assert [line["request_id"] for line in logged.records()] == ids


@pytest.mark.anyio
async def test_console_lines_cannot_be_forged_through_the_path(world: World) -> None:
    logged = Logged(world, fmt="console")
    async with asgi_client(logged.app) as http:
        await http.get("/x%0Afake%20line%20status=200")
    (line,) = logged.lines()
    assert "path='/x%0Afake%20line%20status=200'" in line
    assert "status=404" in line


def test_configured_logging_writes_json_and_redacts_secret_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("info", "json")
        logger = logging.getLogger("passgate.test")
        try:
            password = "hunter2-and-more"
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
        import structlog

        structlog.get_logger("passgate.test").warning(
            "with fields", client_secret="s3cr3t-value", user="alice"
        )
        del password
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    first, second = (json.loads(line) for line in err.splitlines() if line.startswith("{"))
    assert first["event"] == "it failed"
    assert first["level"] == "error"
    assert first["logger"] == "passgate.test"
    assert "ValueError: boom" in first["exception"]
    assert "hunter2" not in err  # no local variables in tracebacks
    assert second["client_secret"] == REDACTED
    assert second["user"] == "alice"
    assert "s3cr3t" not in err
