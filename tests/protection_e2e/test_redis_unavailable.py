"""``PASSGATE_REDIS_URL`` naming a Redis that cannot be reached (a closed port)."""

from __future__ import annotations

import socket

import pytest

from passgate.domain.brute_force import PER_IDENTIFIER_AND_IP
from passgate.storage.counters_sql import SqlCounters
from passgate.testing import login_key
from tests.protection_e2e.conftest import StackFactory
from tests.protection_e2e.helpers import IP_A, IP_B, PASSWORD, WRONG, Stack, fepft_errors

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nobody listens on it any more


def unreachable_redis(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch, mode: str
) -> Stack:
    monkeypatch.setenv("PASSGATE_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    monkeypatch.setenv("PASSGATE_REDIS_UNAVAILABLE", mode)
    return make_lite_stack()


async def test_refuse_answers_logins_with_503_before_any_password_check(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = unreachable_redis(make_lite_stack, monkeypatch, "refuse")
    async with stack.http() as http:
        for password in (PASSWORD, WRONG, PASSWORD):
            answer = await stack.login(http, "alice", password, forwarded=IP_A)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "temporarily_unavailable"
    assert stack.hashes.count == 0
    assert fepft_errors(stack) == ["temporarily_unavailable"] * 3


async def test_fallback_logs_in_and_counts_failures_in_sql(
    make_lite_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = unreachable_redis(make_lite_stack, monkeypatch, "fallback")
    async with stack.http() as http:
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
        for _ in range(10):
            answer = await stack.login(http, "alice", WRONG, forwarded=IP_A)
            assert answer.status_code == 403, answer.text
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_A)).status_code == 429
        assert (await stack.login(http, "alice", PASSWORD, forwarded=IP_B)).status_code == 200

    key = login_key(stack.passgate.directory, PER_IDENTIFIER_AND_IP, "alice", IP_A)
    assert SqlCounters(stack.passgate.engine).failures(key, now=stack.clock()) == 10
    assert len(stack.events.of_type("limit_wc")) == 1
