"""``passgate log-streams …`` over the Management API's service (SQLite and PostgreSQL):
create, list, show, pause, resume, delete, every one with --json; refusals are one line
and exit 2; the authorization header never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passgate.storage.db import make_engine
from passgate.storage.log_streams import LogStreams
from passgate.support.key_encryption import KEY_FILE_NAME, load_key_file
from tests import support

SECRET = "Bearer cli-secret-0042"


class Cli(support.Cli):
    def refused(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.exit_code == 2, (result.output, result.exception)
        (line,) = support.refusal_lines(result.stderr)
        assert line.startswith("Error: ")
        assert "Traceback" not in result.output
        return line


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    return Cli(
        tmp_path / "data",
        env={
            "PASSGATE_DATABASE_URL": sql_url,
            "PASSGATE_KEY_ENCRYPTION_KEY": support.TEST_KEY_ENCRYPTION_KEY,
        },
    )


def test_create_list_show_pause_resume_delete(cli: Cli, sql_url: str) -> None:
    made = cli.json(
        "log-streams", "create", "--name", "SIEM", "--endpoint", "https://siem.example/in",
        "--format", "jsonarray", "--authorization", SECRET,
        "--category", "auth.token_exchange.fail", "--category", "auth.signup.*",
    )  # fmt: skip
    assert made["name"] == "SIEM"
    assert made["status"] == "active"
    assert made["sink"] == {
        "httpEndpoint": "https://siem.example/in",
        "httpContentType": "application/json",
        "httpContentFormat": "JSONARRAY",
        "httpAuthorization": "********",
    }
    assert [f["name"] for f in made["filters"]] == [
        "auth.token_exchange.fail",
        "auth.signup.fail",
        "auth.signup.success",
    ]
    engine = make_engine(sql_url)
    try:
        stored = LogStreams(engine).get(made["id"])
    finally:
        engine.dispose()
    assert stored is not None
    assert stored.authorization_kek_id is not None
    assert SECRET not in (stored.authorization_sealed or "")

    assert cli.json("log-streams", "list") == [made]
    assert cli.json("log-streams", "show", made["id"]) == made
    text = cli.run("log-streams", "list").stdout
    assert made["id"] in text
    assert "SIEM" in text
    assert "auth.signup.fail" in text
    shown = cli.run("log-streams", "show", made["id"]).stdout
    assert "********" in shown
    assert SECRET not in shown

    assert cli.json("log-streams", "pause", made["id"])["status"] == "paused"
    assert "is paused" in cli.run("log-streams", "pause", made["id"]).stdout
    assert cli.json("log-streams", "resume", made["id"])["status"] == "active"
    deleted = cli.json("log-streams", "delete", made["id"])
    assert deleted["deleted"]["id"] == made["id"]
    assert cli.json("log-streams", "list") == []
    assert cli.run("log-streams", "list").stdout.strip() == "no log streams"


def test_the_authorization_from_stdin_and_defaults(cli: Cli) -> None:
    made = cli.json(
        "log-streams", "create", "--name", "n", "--endpoint", "http://127.0.0.1:9/x",
        "--authorization-stdin", "--paused", input=SECRET + "\n",
    )  # fmt: skip
    assert made["status"] == "paused"
    assert made["filters"] == []
    repeated = cli.json(
        "log-streams", "create", "--name", "r", "--endpoint", "http://h/",
        "--category", "other", "--category", "other", "--category", "user.*",
    )  # fmt: skip
    assert [f["name"] for f in repeated["filters"]] == [
        "other", "user.fail", "user.notification", "user.success",
    ]  # fmt: skip
    assert made["sink"]["httpContentFormat"] == "JSONLINES"
    assert made["sink"]["httpAuthorization"] == "********"
    assert SECRET not in json.dumps(made)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--endpoint", "ftp://h/"), "for --endpoint"),
        (("--endpoint", "http://u:p@h/"), "credentials"),
        (("--endpoint", "https://h/" + "a" * 2040), "maximum 2048"),
        (("--category", "auth.login"), "for --category"),
        (("--category", "nothing.*"), "for --category"),
        (("--authorization", "Bearer a\nb"), "for --authorization"),
        (("--authorization", ""), "for --authorization"),
        (("--content-type", "json"), "for --content-type"),
        (("--name", " "), "for --name"),
        (("--name", "n" * 129), "maximum 128"),
    ],
)
def test_bad_values_are_refused_in_one_line(cli: Cli, args: tuple[str, ...], message: str) -> None:
    base = {"--name": "n", "--endpoint": "http://h/"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    full: list[str] = []
    for option, value in {**base, **given}.items():
        full += [option, value]
    line = cli.refused("log-streams", "create", *full)
    assert message in line, line
    assert "cli-secret" not in line
    assert cli.json("log-streams", "list") == []


def test_unknown_streams_and_usage_errors(cli: Cli) -> None:
    for command in ("show", "pause", "resume", "delete"):
        assert "does not exist" in cli.refused("log-streams", command, "lst_missing")
    both = cli.run(
        "log-streams", "create", "--name", "n", "--endpoint", "http://h/",
        "--authorization", "x", "--authorization-stdin", input="y\n",
    )  # fmt: skip
    assert both.exit_code == 2
    assert "not both" in both.stderr
    bad_format = cli.run(
        "log-streams", "create", "--name", "n", "--endpoint", "http://h/", "--format", "XML"
    )
    assert bad_format.exit_code == 2


def test_keys_rewrap_reseals_the_authorizations_under_the_new_key(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")  # the embedded default: the key file in the data directory
    made = cli.json(
        "log-streams", "create", "--name", "n", "--endpoint", "http://h/",
        "--authorization", SECRET,
    )  # fmt: skip
    plain = cli.json("log-streams", "create", "--name", "p", "--endpoint", "http://h/")
    done = cli.json("keys", "rewrap", "--new-key")
    assert done["log_streams_rewrapped"] == 1
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'passgate.db'}")
    try:
        stored = LogStreams(engine).get(made["id"])
        untouched = LogStreams(engine).get(plain["id"])
    finally:
        engine.dispose()
    assert stored is not None
    assert untouched is not None
    assert stored.authorization_kek_id == done["kek_id"]
    assert untouched.authorization_sealed is None
    keys = load_key_file(tmp_path / "data" / KEY_FILE_NAME)
    assert keys is not None
    assert keys.ids == (done["kek_id"],)
    assert stored.authorization_sealed is not None
    opened = keys.unseal(stored.authorization_sealed, kek_id=done["kek_id"], kid=stored.id)
    assert opened == SECRET
    assert cli.json("keys", "rewrap")["log_streams_rewrapped"] == 0
    assert "1 log stream" not in cli.run("keys", "rewrap").stdout
