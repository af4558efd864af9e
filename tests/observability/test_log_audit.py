"""The end-of-run search of every server log (tests/log_audit.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.log_audit import audit, passwords_of_tests

A_PASSWORD = "a test password that must never be logged"


@pytest.fixture
def logs() -> Iterator[Path]:
    """Outside pytest's base temporary directory, which the end-of-run audit searches."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def test_it_finds_tokens_and_passwords_of_tests_in_server_logs(logs: Path) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    (logs / "a").mkdir()
    (logs / "a" / "server-1.err").write_text(f'{{"event":"request","token":"{token}"}}\n')
    (logs / "server-2.err").write_text(f"login failed for {A_PASSWORD}\n")
    (logs / "clean.err").write_text('{"event":"request","status":200}\n')
    (logs / "stdout.out").write_text(token)  # not a server log
    assert A_PASSWORD in passwords_of_tests()
    assert audit(logs) == [
        f"{logs / 'a' / 'server-1.err'}: a JSON Web Token",
        f"{logs / 'server-2.err'}: a test password ({len(A_PASSWORD)} characters)",
    ]


def test_clean_logs_pass(logs: Path) -> None:
    (logs / "server.err").write_text('{"event":"Started server process","level":"info"}\n')
    assert audit(logs) == []
