"""``passgate connections list|show|set|create`` over the Management API's service, and the
connection's password rules on ``passgate users create`` / ``set-password`` (SQLite and
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passgate.domain.connection_options import MIGRATED_OPTIONS
from passgate.storage.directory import DEFAULT_CONNECTION
from tests import support


class Cli(support.Cli):
    def refused(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.exit_code in (1, 2), (result.output, result.exception)
        assert "Traceback" not in result.output
        lines = support.refusal_lines(result.stderr)
        return lines[-1]  # click's usage errors say Usage and Try first


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    return Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})


def test_list_and_show_the_default_connection(cli: Cli) -> None:
    [found] = cli.json("connections", "list")
    assert found["name"] == DEFAULT_CONNECTION
    assert found["options"] == MIGRATED_OPTIONS
    shown = cli.json("connections", "show", DEFAULT_CONNECTION)
    assert shown == cli.json("connections", "show", found["id"])
    text = cli.run("connections", "show", DEFAULT_CONNECTION).stdout
    assert "passwordPolicy:" in text
    assert "* At least 8 characters in length" in text
    table = cli.run("connections", "list").stdout
    assert "POLICY" in table
    assert DEFAULT_CONNECTION in table


def test_set_changes_only_the_options_named(cli: Cli) -> None:
    changed = cli.json(
        "connections", "set", DEFAULT_CONNECTION,
        "--password-policy", "good", "--history-size", "3", "--dictionary",
        "--dictionary-word", "Acme", "--personal-info-check", "--no-signup",
        "--requires-username", "--username-min", "3", "--username-max", "20",
        "--no-brute-force-protection",
    )  # fmt: skip
    options: dict[str, Any] = changed["options"]
    assert options["passwordPolicy"] == "good"
    assert options["password_complexity_options"] == {"min_length": 8}  # kept
    assert options["password_history"] == {"enable": True, "size": 3}
    assert options["password_dictionary"] == {"enable": True, "dictionary": ["Acme"]}
    assert options["password_no_personal_info"] == {"enable": True}
    assert options["disable_signup"] is True
    assert options["requires_username"] is True
    assert options["validation"] == {"username": {"min": 3, "max": 20}}
    assert options["brute_force_protection"] is False
    off = cli.json("connections", "set", DEFAULT_CONNECTION, "--history-size", "0", "--signup")
    assert off["options"]["password_history"]["enable"] is False
    assert off["options"]["disable_signup"] is False
    replaced = cli.json(
        "connections", "set", DEFAULT_CONNECTION, "--options-json", '{"passwordPolicy": null}'
    )
    assert replaced["options"] == {"passwordPolicy": None}


def test_create_with_clients(cli: Cli) -> None:
    client = cli.json(
        "clients", "create", "--name", "Web", "--app-type", "spa", "--grant", "password"
    )
    made = cli.json("connections", "create", "Staff", "--password-policy", "excellent")
    assert made["enabled_clients"] == []
    assert made["options"] == {"passwordPolicy": "excellent"}
    every = cli.json("connections", "create", "Partners", "--all-clients")
    assert client["client_id"] in every["enabled_clients"]
    chosen = cli.json("connections", "set", "Staff", "--client", client["client_id"])
    assert chosen["enabled_clients"] == [client["client_id"]]


@pytest.mark.parametrize(
    "args",
    [
        ("connections", "create", "bad name"),
        ("connections", "create", DEFAULT_CONNECTION),
        ("connections", "show", "Nowhere"),
        ("connections", "set", "Nowhere", "--password-policy", "good"),
        ("connections", "set", DEFAULT_CONNECTION, "--history-size", "25"),
        ("connections", "set", DEFAULT_CONNECTION, "--password-policy", "strong"),
        ("connections", "set", DEFAULT_CONNECTION, "--options-json", "{"),
        ("connections", "set", DEFAULT_CONNECTION, "--options-json", '{"password_history": 1}'),
        ("connections", "set", DEFAULT_CONNECTION, "--client", "nobody"),
    ],
)
def test_refusals_are_one_line(cli: Cli, args: tuple[str, ...]) -> None:
    assert cli.refused(*args).startswith("Error: ")


def test_users_commands_obey_the_connections_rules(cli: Cli) -> None:
    cli.json(
        "connections", "set", DEFAULT_CONNECTION, "--password-policy", "fair",
        "--history-size", "2", "--personal-info-check",
    )  # fmt: skip
    weak = cli.refused(
        "users", "create", "--email", "ada@example.com", "--password-stdin", input="abcdefgh\n"
    )
    assert "PasswordStrengthError" in weak
    mine = cli.refused(
        "users", "create", "--email", "ada@example.com", "--password-stdin", input="xAda99yyZ\n"
    )
    assert "PasswordNoUserInfoError" in mine
    cli.json(
        "users", "create", "--email", "ada@example.com", "--password-stdin", input="First-pw-11\n"
    )
    cli.json("users", "set-password", "ada@example.com", "--password-stdin", input="Second-pw-22\n")
    for recent in ("First-pw-11", "Second-pw-22"):
        again = cli.refused(
            "users", "set-password", "ada@example.com", "--password-stdin", input=recent + "\n"
        )
        assert "PasswordHistoryError" in again
