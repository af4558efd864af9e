"""``passgate`` commands given values at and past their columns' lengths, and text that
is not UTF-8 (SQLite and PostgreSQL).

At the limit the value is stored whole; one character past it (as given, or as the
case-folded key stored beside an email or username) the command exits 2 with one line on
stderr, no traceback, and nothing is stored. So does a value that no driver can encode.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from passgate.storage.db import make_engine
from passgate.storage.schema import apis, clients, users
from tests import support
from tests.support import refusal_lines

PASSWORD = "correct horse battery staple"
DOMAIN = "@example.com"


class Cli(support.Cli):
    def __init__(self, data_dir: Path, sql_url: str) -> None:
        super().__init__(data_dir, env={"PASSGATE_DATABASE_URL": sql_url})
        self.sql_url = sql_url

    def count(self, table: sa.Table) -> int:
        engine = make_engine(self.sql_url)
        try:
            with engine.connect() as db:
                return int(db.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        finally:
            engine.dispose()

    def refused(self, *args: str, input: str | None = None) -> str:
        """Run a command that must be refused as a bad value: exit 2, one line."""
        result = self.run(*args, input=input)
        assert result.exit_code == 2, (result.output, result.exception)
        assert isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        assert result.stdout == ""
        [line] = refusal_lines(result.stderr)
        assert line.startswith("Error: ")
        return line


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    return Cli(tmp_path / "data", sql_url)


def email_of(length: int, letter: str = "a") -> str:
    return letter * (length - len(DOMAIN)) + DOMAIN


# -- users create ------------------------------------------------------------------------

USER_AT_THE_LIMIT = [
    pytest.param(["--email", email_of(320)], id="email-ascii"),
    pytest.param(["--email", email_of(320, "é")], id="email-non-ascii"),
    pytest.param(["--email", "ß" * 154 + DOMAIN], id="email-folds-to-the-limit"),
    pytest.param(["--username", "u" * 128], id="username-ascii"),
    pytest.param(["--username", "ü" * 128], id="username-non-ascii"),
    pytest.param(["--username", "ß" * 64], id="username-folds-to-the-limit"),
    pytest.param(["--name", "n" * 256], id="name-ascii"),
    pytest.param(["--name", "ß" * 256], id="name-non-ascii"),
]

USER_PAST_THE_LIMIT = [
    pytest.param(["--email", email_of(321)], "email is too long", id="email-ascii"),
    pytest.param(["--email", email_of(321, "é")], "email is too long", id="email-non-ascii"),
    pytest.param(["--email", "ß" * 155 + DOMAIN], "once case-folded", id="email-sharp-s"),
    pytest.param(["--email", "ﬃ" * 103 + DOMAIN], "once case-folded", id="email-ffi"),
    pytest.param(["--username", "u" * 129], "username is too long", id="username-ascii"),
    pytest.param(["--username", "ü" * 129], "username is too long", id="username-non-ascii"),
    pytest.param(["--username", "ß" * 65], "once case-folded", id="username-sharp-s"),
    pytest.param(["--name", "n" * 257], "name is too long", id="name-ascii"),
    pytest.param(["--name", "ß" * 257], "name is too long", id="name-non-ascii"),
]


@pytest.mark.parametrize("args", USER_AT_THE_LIMIT)
def test_users_create_stores_values_at_their_limit(cli: Cli, args: list[str]) -> None:
    if "--email" not in args:
        args = [*args, "--email", "ada@example.com"]
    created = cli.json("users", "create", *args, "--password-stdin", input=PASSWORD + "\n")
    option, value = args[0], args[1]
    assert created[option.removeprefix("--")] == value


@pytest.mark.parametrize(("args", "message"), USER_PAST_THE_LIMIT)
def test_users_create_refuses_values_past_their_limit(
    cli: Cli, args: list[str], message: str
) -> None:
    if "--email" not in args:
        args = [*args, "--email", "ada@example.com"]
    line = cli.refused("users", "create", *args, "--password-stdin", input=PASSWORD + "\n")
    assert message in line
    assert cli.count(users) == 0


# -- clients create and apis create ------------------------------------------------------


@pytest.mark.parametrize("name", ["c" * 256, "ç" * 256, "ß" * 256])
def test_clients_create_stores_a_name_at_its_limit(cli: Cli, name: str) -> None:
    created = cli.json("clients", "create", "--name", name, "--grant", "password")
    assert created["name"] == name


@pytest.mark.parametrize("name", ["c" * 257, "ç" * 257])
def test_clients_create_refuses_a_name_past_its_limit(cli: Cli, name: str) -> None:
    line = cli.refused("clients", "create", "--name", name, "--grant", "password")
    assert "name is too long (at most 256 characters)" in line
    assert cli.count(clients) == 0


def identifier_of(length: int, letter: str = "a") -> str:
    prefix = "https://api.example/"
    return prefix + letter * (length - len(prefix))


@pytest.mark.parametrize(
    "args",
    [
        ["--identifier", identifier_of(600)],
        ["--identifier", identifier_of(600, "é")],
        ["--identifier", "https://api.example/", "--name", "n" * 256],
        ["--identifier", "https://api.example/", "--name", "ñ" * 256],
    ],
)
def test_apis_create_stores_values_at_their_limit(cli: Cli, args: list[str]) -> None:
    created = cli.json("apis", "create", *args)
    assert created["identifier"] == args[1]
    if len(args) > 2:
        assert created["name"] == args[3]
    else:  # the name defaults to the identifier, shortened to fit
        assert created["name"] == args[1][:255] + "…"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--identifier", identifier_of(601)], "identifier is too long (at most 600"),
        (["--identifier", identifier_of(601, "é")], "identifier is too long (at most 600"),
        (
            ["--identifier", "https://api.example/", "--name", "n" * 257],
            "name is too long (at most 256",
        ),
        (
            ["--identifier", "https://api.example/", "--name", "ñ" * 257],
            "name is too long (at most 256",
        ),
    ],
)
def test_apis_create_refuses_values_past_their_limit(
    cli: Cli, args: list[str], message: str
) -> None:
    assert message in cli.refused("apis", "create", *args)
    assert cli.count(apis) == 0


# -- text that is not UTF-8 --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["users", "create", "--email", "\udcffa@example.com", "--password-stdin"],
        ["users", "create", "--email", "a@example.com", "--name", "\udcff", "--password-stdin"],
        ["clients", "create", "--name", "caf\udce9", "--grant", "password"],
        ["apis", "create", "--identifier", "https://api.example/\udcff"],
    ],
    ids=["email", "name", "client-name", "api-identifier"],
)
def test_an_argument_that_is_not_utf8_is_refused(cli: Cli, args: list[str]) -> None:
    """A shell passes bytes; Python keeps the ones that are not UTF-8 as lone surrogates,
    which no database driver can encode."""
    line = cli.refused(*args, input=PASSWORD + "\n")
    assert "not valid UTF-8" in line
    assert (cli.count(users), cli.count(clients), cli.count(apis)) == (0, 0, 0)
