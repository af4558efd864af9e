"""``passgate client-grants …`` over the Management API's service, and the Management API's
identifier following ``passgate issuer set`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.storage.applications import Applications
from passgate.storage.client_grants import ClientGrants
from passgate.storage.db import make_engine
from tests import support

API = "https://orders.example/"


class Cli(support.Cli):
    def refused(self, *args: str) -> str:
        """A refusal: exit 2 and one line on stderr, no traceback."""
        result = self.run(*args)
        assert result.exit_code == 2, (result.output, result.exception)
        (line,) = support.refusal_lines(result.stderr)
        assert line.startswith("Error: ")
        assert "Traceback" not in result.output
        return line


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    cli = Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})
    cli.json("apis", "create", "--identifier", API, "--scope", "read:orders", "--scope", "ship")
    return cli


def machine(cli: Cli, name: str = "Backend") -> str:
    made = cli.json(
        "clients", "create", "--name", name, "--app-type", "non_interactive",
        "--grant", "client_credentials",
    )  # fmt: skip
    return str(made["client_id"])


def grant(cli: Cli, client_id: str, *scopes: str, audience: str = API) -> dict[str, Any]:
    options = [part for scope in scopes for part in ("--scope", scope)]
    made: dict[str, Any] = cli.json(
        "client-grants", "create", "--client-id", client_id, "--audience", audience, *options
    )
    return made


def test_create_list_update_delete(cli: Cli) -> None:
    backend, other = machine(cli), machine(cli, "Other")
    first = grant(cli, backend, "read:orders")
    assert first == {
        "id": first["id"],
        "client_id": backend,
        "audience": API,
        "scope": ["read:orders"],
        "is_system": False,
        "subject_type": "client",
    }
    second = grant(cli, other, "read:orders", "ship")
    assert cli.json("client-grants", "list") == [first, second]
    assert cli.json("client-grants", "list", "--client-id", other) == [second]
    assert cli.json("client-grants", "list", "--audience", API) == [first, second]
    assert cli.json("client-grants", "list", "--audience", API.rstrip("/")) == []

    text = cli.run("client-grants", "list").stdout
    assert text.splitlines()[0].split() == ["ID", "CLIENT_ID", "AUDIENCE", "SCOPE"]
    assert f"{second['id']}  {other}  {API}  read:orders ship" in text

    updated = cli.json("client-grants", "update", first["id"], "--scope", "ship")
    assert updated == {**first, "scope": ["ship"]}
    shown = cli.run("client-grants", "update", first["id"], "--scope", "ship").stdout
    assert f"audience:  {API}" in shown

    deleted = cli.run("client-grants", "delete", first["id"])
    assert deleted.exit_code == 0, deleted.output
    assert f"deleted client grant {first['id']} ({backend} -> {API})" in deleted.stdout
    assert cli.json("client-grants", "delete", second["id"]) == {"deleted": second}
    assert cli.json("client-grants", "list") == []


def test_a_list_without_grants_says_so(cli: Cli) -> None:
    assert cli.run("client-grants", "list").stdout.strip() == "no client grants"


def test_a_long_list_comes_whole(cli: Cli, sql_url: str) -> None:
    """More grants than a page of the service (100) are all listed, once each."""
    backend = machine(cli)
    engine = make_engine(sql_url)
    try:
        applications, grants = Applications(engine, b"k" * 32), ClientGrants(engine)
        for index in range(105):
            api = applications.create_api(identifier=f"https://api{index}.example/", scopes=[])
            grants.create(client_id=backend, api_id=api.id, scope=[])
    finally:
        engine.dispose()
    listed = cli.json("client-grants", "list", "--client-id", backend)
    assert len({item["id"] for item in listed}) == len(listed) == 105


def test_refusals_are_one_line_with_exit_2(cli: Cli) -> None:
    backend = machine(cli)
    made = grant(cli, backend, "ship")
    assert "A client grant already exists between" in cli.refused(
        "client-grants", "create", "--client-id", backend, "--audience", API, "--scope", "ship"
    )
    assert "No client with client_id nope" in cli.refused(
        "client-grants", "create", "--client-id", "nope", "--audience", API, "--scope", "ship"
    )
    assert f"No resource with identifier {API.upper()}" in cli.refused(
        "client-grants", "create", "--client-id", backend, "--audience", API.upper(),
        "--scope", "ship",
    )  # fmt: skip
    assert "does not define the scope write:orders" in cli.refused(
        "client-grants", "update", made["id"], "--scope", "write:orders"
    )
    assert "not unique" in cli.refused(
        "client-grants", "update", made["id"], "--scope", "ship", "--scope", "ship"
    )
    assert "The client grant does not exist" in cli.refused("client-grants", "delete", "cgr_x")
    assert "The client grant does not exist" in cli.refused(
        "client-grants", "update", "x" * 5000, "--scope", "ship"
    )
    assert cli.json("client-grants", "list") == [made]


def test_a_scope_is_required(cli: Cli) -> None:
    result = cli.run("client-grants", "create", "--client-id", "c", "--audience", API)
    assert result.exit_code == 2
    assert "Missing option '--scope'" in result.stderr


def test_the_management_api_follows_the_issuer_with_its_grants(cli: Cli) -> None:
    """Once the issuer is fixed, the Management API is there for the CLI too (a command
    run before the upgraded server started included); ``issuer set`` moves it."""
    backend = machine(cli)
    cli.json("issuer", "set", "https://auth.example.com/")
    management = "https://auth.example.com/api/v2/"
    made = grant(cli, backend, *MANAGEMENT_SCOPES, audience=management)
    assert made["scope"] == list(MANAGEMENT_SCOPES)
    (api,) = [a for a in cli.json("apis", "list") if a["is_system"]]
    assert (api["identifier"], api["name"]) == (management, "passgate Management API")

    moved = cli.json("issuer", "set", "https://login.example.com")
    assert moved["management_api_identifier"] == "https://login.example.com/api/v2/"
    (followed,) = cli.json("client-grants", "list", "--client-id", backend, "--audience",
                           "https://login.example.com/api/v2/")  # fmt: skip
    assert followed == {**made, "audience": "https://login.example.com/api/v2/"}
    assert cli.json("client-grants", "list", "--audience", management) == []


def test_issuer_set_refuses_when_another_api_has_the_management_identifier(cli: Cli) -> None:
    cli.json("issuer", "set", "https://auth.example.com/")
    grant(cli, machine(cli), "read:users", audience="https://auth.example.com/api/v2/")
    cli.json("apis", "create", "--identifier", "https://new.example/api/v2/")
    refused = cli.run("issuer", "set", "https://new.example/")
    assert refused.exit_code == 1
    assert "another API" in refused.stderr
    assert cli.json("issuer", "show") == {"issuer": "https://auth.example.com/"}
