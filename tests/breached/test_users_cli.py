"""``passgate users create`` and ``users set-password`` apply the breached-password policy.

The administrator's commands are password changes like the others: the
pre-change-password stage (``set-password``) and the pre-user-registration stage
(``create``) of the policy refuse a breached password with ``block``, and report it with
an event either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passgate.breached import import_corpus
from passgate.storage.db import make_engine, sqlite_url
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.support.passwords import PasswordHasher
from tests.breached.helpers import hash_lines, write_lines
from tests.support import Cli

SAFE = "a perfectly private passphrase"
LEAKED = "password123-leaked"
TEST_PASSWORD = "AUTH0-TEST-anything"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    corpus = write_lines(tmp_path / "corpus.txt", hash_lines({LEAKED: 12, "hunter2": 3}))
    import_corpus([corpus], data_dir / "breached.idx")
    return Cli(data_dir, {"PASSGATE_BREACHED_INDEX": None, "PASSGATE_BREACHED_RANGE_URL": None})


def create(cli: Cli, email: str = "alice@example.com", password: str = SAFE) -> dict[str, Any]:
    created: dict[str, Any] = cli.json(
        "users", "create", "--email", email, "--password-stdin", input=password + "\n"
    )
    return created


def password_works(cli: Cli, email: str, password: str) -> bool:
    engine = make_engine(sqlite_url(cli.data_dir))
    try:
        directory = Directory(engine)
        connection = directory.connection_by_name(DEFAULT_CONNECTION)
        assert connection is not None
        found = directory.find_for_login(connection.id, email)
        assert found is not None
        return PasswordHasher(memory_kib=1024, time_cost=1).verify(found[1], password)
    finally:
        engine.dispose()


def leak_events(cli: Cli, event_type: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cli.json("logs", "--type", event_type)
    return events


@pytest.mark.parametrize("password", [LEAKED, TEST_PASSWORD])
def test_set_password_refuses_a_breached_password_and_changes_nothing(
    cli: Cli, password: str
) -> None:
    user = create(cli)
    message = cli.fails(
        "users", "set-password", "alice@example.com", "--password-stdin", input=password + "\n"
    )
    assert "breached" in message
    assert password not in message
    assert password_works(cli, "alice@example.com", SAFE)
    assert not password_works(cli, "alice@example.com", password)
    [event] = leak_events(cli, "reset_pwd_leak")
    assert event["user_id"] == user["user_id"]
    assert event["user_name"] == "alice@example.com"
    assert event["details"]["stage"] == "pre-change-password"
    assert event["details"]["action"] == "blocked"
    assert password not in str(event)


def test_set_password_accepts_a_password_not_in_the_corpus(cli: Cli) -> None:
    create(cli)
    cli.json("users", "set-password", "alice@example.com", "--password-stdin", input="fresh one\n")
    assert password_works(cli, "alice@example.com", "fresh one")
    assert leak_events(cli, "reset_pwd_leak") == []


def test_set_password_without_the_block_shield_reports_but_changes(cli: Cli) -> None:
    create(cli)
    cli.json("protection", "set", "breached-password", "--no-change-password-shields")
    result = cli.run(
        "users", "set-password", "alice@example.com", "--password-stdin", input=LEAKED + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "breached" in result.stderr
    assert password_works(cli, "alice@example.com", LEAKED)
    [event] = leak_events(cli, "reset_pwd_leak")
    assert event["details"]["action"] == "allowed"


def test_set_password_with_detection_disabled_changes_and_reports_nothing(cli: Cli) -> None:
    create(cli)
    cli.json("protection", "set", "breached-password", "--disabled")
    cli.json("users", "set-password", "alice@example.com", "--password-stdin", input=LEAKED + "\n")
    assert password_works(cli, "alice@example.com", LEAKED)
    assert leak_events(cli, "reset_pwd_leak") == []


def test_create_refuses_a_breached_password_and_creates_nobody(cli: Cli) -> None:
    message = cli.fails(
        "users", "create", "--email", "bob@example.com", "--password-stdin", input=LEAKED + "\n"
    )
    assert "breached" in message
    assert cli.json("users", "list") == []
    [event] = leak_events(cli, "signup_pwd_leak")
    assert event["user_name"] == "bob@example.com"
    assert event["details"]["stage"] == "pre-user-registration"


def test_a_damaged_index_is_a_clear_refusal_not_a_traceback(cli: Cli) -> None:
    create(cli)
    (cli.data_dir / "breached.idx").write_bytes(b"not an index at all, but long enough" * 4)
    message = cli.fails(
        "users", "set-password", "alice@example.com", "--password-stdin", input="fresh one\n"
    )
    assert "breached.idx" in message
    assert password_works(cli, "alice@example.com", SAFE)
