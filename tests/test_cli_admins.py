"""``passgate admins``: administrators of the console are made, listed and removed from
the command line; passwords come from stdin or a prompt, pass the password policy and
the breached-password corpus, and are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Cli

PASSWORD = "an administrator's passphrase 9"


def _refused(cli: Cli, *args: str, input: str | None = None) -> str:
    """A refused command's message: exit code 2 (a refused value), no traceback."""
    result = cli.run(*args, input=input)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


def test_create_list_and_remove(cli: Cli) -> None:
    made = cli.json(
        "admins", "create", "--email", "Root@Example.com", "--password-stdin", input=PASSWORD + "\n"
    )
    assert made["id"].startswith("admin|")
    assert made["role"] == "admin"
    viewer = cli.json(
        "admins",
        "create",
        "--email",
        "ops@example.com",
        "--role",
        "viewer",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert viewer["role"] == "viewer"
    listed = cli.json("admins", "list")
    assert [row["email"] for row in listed] == ["ops@example.com", "Root@Example.com"]
    assert all(set(row) == {"id", "email", "role", "created_at", "last_login_at"} for row in listed)
    text = cli.run("admins", "list").stdout
    assert "Root@Example.com" in text
    assert PASSWORD not in text
    assert "argon2" not in text
    removed = cli.json("admins", "remove", "root@EXAMPLE.com")
    assert removed["removed"]["id"] == made["id"]
    assert [row["email"] for row in cli.json("admins", "list")] == ["ops@example.com"]
    cli.json("admins", "remove", viewer["id"])
    assert cli.json("admins", "list") == []


def test_an_email_is_taken_in_any_spelling(cli: Cli) -> None:
    cli.json(
        "admins", "create", "--email", "root@example.com", "--password-stdin", input=PASSWORD + "\n"
    )
    message = _refused(
        cli,
        "admins",
        "create",
        "--email",
        "ROOT@example.com",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert "exists already" in message


@pytest.mark.parametrize(
    ("args", "password", "expected"),
    [
        (("--email", "not-an-email"), PASSWORD, "not an email address"),
        (("--email", "a@example.com"), "short", "password is refused"),
        (("--email", "a@example.com"), "AUTH0-TEST-breached one", "breached"),
        (("--email", "x" * 400 + "@example.com"), PASSWORD, "not an email address"),
        (("--email", "a@example.com", "--role", "owner"), PASSWORD, "owner"),
    ],
)
def test_bad_values_are_refused(
    cli: Cli, args: tuple[str, ...], password: str, expected: str
) -> None:
    result = cli.run("admins", "create", *args, "--password-stdin", input=password + "\n")
    assert result.exit_code != 0
    assert expected in result.output
    assert "Traceback" not in result.output
    assert cli.json("admins", "list") == []


def test_removing_an_unknown_administrator_is_refused(cli: Cli) -> None:
    assert "no administrator" in _refused(cli, "admins", "remove", "nobody@example.com")


def test_set_password_replaces_the_password(cli: Cli) -> None:
    cli.json(
        "admins", "create", "--email", "root@example.com", "--password-stdin", input=PASSWORD + "\n"
    )
    changed = cli.json(
        "admins",
        "set-password",
        "root@example.com",
        "--password-stdin",
        input="a brand new passphrase 10\n",
    )
    assert changed["email"] == "root@example.com"
    assert "password is refused" in _refused(
        cli, "admins", "set-password", "root@example.com", "--password-stdin", input="short\n"
    )


def test_quickstart_prints_how_to_open_the_console(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passgate.cli import quickstart

    monkeypatch.setattr(quickstart, "run_server", lambda *args, **kwargs: None)
    started = cli.json("quickstart", "--port", "8123")
    console = started["admin_console"]
    assert console["url"] == "http://127.0.0.1:8123/admin"
    assert console["administrators"] == 0
    assert "admins create --email" in console["create_admin"]
    text = cli.run("quickstart", "--port", "8123").stdout
    assert "Admin console: http://127.0.0.1:8123/admin" in text
    assert "admins create --email you@example.com" in text
    cli.json("admins", "create", "--email", "root@example.com", "--password-stdin",
             input=PASSWORD + "\n")  # fmt: skip
    again = cli.run("quickstart", "--port", "8123").stdout
    assert "Log in as one of the 1 administrator(s)" in again
