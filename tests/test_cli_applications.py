"""``passgate clients set-auth-method``: how a client authenticates at the token endpoint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from passgate.storage.applications import Applications
from passgate.storage.db import make_engine
from passgate.storage.tenant import TenantStore
from tests import support


class Cli(support.Cli):
    @property
    def url(self) -> str:
        return str(self.runner.env["PASSGATE_DATABASE_URL"])

    def stored(self, client_id: str) -> tuple[str, str | None]:
        """The client's auth method and secret digest, as stored."""
        engine = make_engine(self.url)
        try:
            client = Applications(engine, TenantStore(engine).digest_key()).get_client(client_id)
            assert client is not None
            return client.token_endpoint_auth_method, client.secret_digest
        finally:
            engine.dispose()

    def secret_works(self, client_id: str, secret: str) -> bool:
        engine = make_engine(self.url)
        try:
            applications = Applications(engine, TenantStore(engine).digest_key())
            client = applications.get_client(client_id)
            assert client is not None
            return client.secret_digest == applications.secret_digest(secret)
        finally:
            engine.dispose()


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    """On SQLite and PostgreSQL."""
    return Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})


def create(cli: Cli, *extra: str) -> dict[str, Any]:
    made: dict[str, Any] = cli.json(
        "clients", "create", "--name", "Shop", "--grant", "password", *extra
    )
    return made


def test_switching_between_secret_methods_keeps_the_secret(cli: Cli) -> None:
    made = create(cli, "--trust-ip-header")
    changed = cli.json("clients", "set-auth-method", made["client_id"], "client_secret_basic")
    assert changed["token_endpoint_auth_method"] == "client_secret_basic"
    assert changed["client_secret"] is None  # unchanged, so not shown
    assert changed["is_token_endpoint_ip_header_trusted"] is True
    assert cli.secret_works(made["client_id"], made["client_secret"])
    back = cli.run("clients", "set-auth-method", made["client_id"], "client_secret_post")
    assert back.exit_code == 0, back.output
    assert re.search(r"^token_endpoint_auth_method:\s+client_secret_post$", back.stdout, re.M)
    assert made["client_secret"] not in back.output
    assert cli.secret_works(made["client_id"], made["client_secret"])


def test_making_a_client_public_drops_its_secret(cli: Cli) -> None:
    made = create(cli)
    changed = cli.json("clients", "set-auth-method", made["client_id"], "none")
    assert changed["token_endpoint_auth_method"] == "none"
    assert cli.stored(made["client_id"]) == ("none", None)
    assert "no secret" in cli.fails("clients", "rotate-secret", made["client_id"])


def test_making_a_public_client_confidential_shows_its_new_secret_once(cli: Cli) -> None:
    made = create(cli, "--auth-method", "none")
    assert made["client_secret"] is None
    result = cli.run("clients", "set-auth-method", made["client_id"], "client_secret_basic")
    assert result.exit_code == 0, result.output
    shown = dict(line.split(":", 1) for line in result.stdout.splitlines())
    secret = shown["client_secret"].strip()
    assert cli.secret_works(made["client_id"], secret)
    assert "cannot be shown again" in result.stderr


@pytest.mark.parametrize(
    ("extra", "method", "expected"),
    [
        (["--trust-ip-header"], "none", "set-trust"),
        (["--grant", "client_credentials"], "none", "client_credentials"),
        ([], "private_key_jwt", "token_endpoint_auth_method must be one of"),
        ([], "", "token_endpoint_auth_method must be one of"),
        ([], "Client_Secret_Basic", "token_endpoint_auth_method must be one of"),
    ],
)
def test_refused_changes_change_nothing(
    cli: Cli, extra: list[str], method: str, expected: str
) -> None:
    made = create(cli, *extra)
    before = cli.stored(made["client_id"])
    assert expected in cli.fails("clients", "set-auth-method", made["client_id"], method)
    assert cli.stored(made["client_id"]) == before


def test_an_unknown_client_is_refused(cli: Cli) -> None:
    assert "no client" in cli.fails("clients", "set-auth-method", "nope", "client_secret_post")


def test_setting_the_same_method_changes_nothing(cli: Cli) -> None:
    made = create(cli)
    before = cli.stored(made["client_id"])
    changed = cli.json("clients", "set-auth-method", made["client_id"], "client_secret_post")
    assert changed["client_secret"] is None
    assert cli.stored(made["client_id"]) == before


def test_the_readme_says_which_authentication_each_client_uses_and_how_to_change_it() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Client authentication", 1)[1].split("\n## ", 1)[0]
    for words in (
        "client_secret_post",
        "client_secret_basic",
        "`none`",
        "passgate clients create",
        "passgate clients set-auth-method",
        "default",
    ):
        assert words in section
