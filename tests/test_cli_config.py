"""Every ``passgate`` command under bad settings, and which data directory it uses.

A refused setting is one line per variable on stderr naming the ``PASSGATE_…`` variable
and what it expects, exit status 2, no traceback, never a secret. Commands say which data
directory (or database) they use; read commands refuse a database that does not exist
instead of creating an empty one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

from passgate.cli.main import main
from tests import support
from tests.processes import server_env

#: The real entry point, as installed next to this interpreter.
PASSGATE = str(Path(sys.executable).parent / "passgate")
SECRET = "s3cr3t-Pa55"

#: Arguments that get each command past its own argument checks to its settings.
SAMPLE_ARGS: dict[str, list[str]] = {
    "serve": ["--port", "1"],
    "quickstart": ["--port", "1"],
    "migrate": [],
    "logs": [],
    "keys list": [],
    "keys rotate": [],
    "keys rewrap": [],
    "keys revoke": ["kid-x"],
    "issuer show": [],
    "issuer set": ["https://auth.example.com/"],
    "clients create": ["--name", "Shop", "--grant", "password"],
    "clients list": [],
    "clients rotate-secret": ["client-id"],
    "clients set-trust": ["client-id", "--on"],
    "clients set-auth-method": ["client-id", "client_secret_basic"],
    "users create": ["--email", "a@example.com", "--password-stdin"],
    "users list": [],
    "users show": ["a@example.com"],
    "users set-password": ["a@example.com", "--password-stdin"],
    "users block": ["a@example.com"],
    "users unblock": ["a@example.com"],
    "users export": [],
    "apis create": ["--identifier", "https://api.example/"],
    "apis list": [],
    "client-grants create": ["--client-id", "c", "--audience", "https://x.example/", "--scope=s"],
    "client-grants list": [],
    "client-grants update": ["cgr_1", "--scope", "s"],
    "client-grants delete": ["cgr_1"],
    "breached import": ["corpus.txt"],
    "breached stats": [],
    "breached check": ["--password-stdin"],
    "protection show": [],
    "protection set brute-force": ["--max-attempts", "5"],
    "protection set suspicious-ip": ["--enabled"],
    "protection set breached-password": ["--enabled"],
    "protection admins set": ["admin@example.com"],
    "protection admins clear": [],
    "blocks list": [],
    "blocks remove": ["a@example.com"],
    "ip-blocks show": ["203.0.113.7"],
    "ip-blocks remove": ["203.0.113.7"],
    "doctor": ["--since", "1d"],
    "log-streams create": ["--name", "n", "--endpoint", "https://siem.example/"],
    "log-streams list": [],
    "log-streams show": ["lst_1"],
    "log-streams pause": ["lst_1"],
    "log-streams resume": ["lst_1"],
    "log-streams delete": ["lst_1"],
    "users import": [__file__],  # any file that exists: settings are refused first
    "admins create": ["--email", "a@example.com", "--password-stdin"],
    "admins list": [],
    "admins remove": ["a@example.com"],
    "admins set-password": ["a@example.com", "--password-stdin"],
    "alerts show": [],
    "alerts set": ["--signups", "5"],
    "alerts list": [],
    "connections create": ["Other-DB"],
    "connections list": [],
    "connections show": ["Username-Password-Authentication"],
    "connections set": ["Username-Password-Authentication", "--min-length", "10"],
    "dashboard": [],
}
#: Commands that only read: they refuse a database that does not exist.
READ_COMMANDS = sorted(
    name
    for name in SAMPLE_ARGS
    if name.split()[-1] in ("list", "show", "logs", "doctor", "dashboard", "export")
)


def leaf_commands(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from leaf_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_the_samples_cover_every_command() -> None:
    """A new command needs a sample here, so that the tests below run it."""
    missing = sorted(set(leaf_commands(main)) - set(SAMPLE_ARGS))
    assert missing == [], "add these commands to SAMPLE_ARGS in tests/test_cli_config.py"
    assert sorted(SAMPLE_ARGS) == sorted(leaf_commands(main))


# -- bad settings ---------------------------------------------------------------------------


def run(
    tmp_path: Path, args: list[str], *, input: str = "x\n", **variables: str
) -> subprocess.CompletedProcess[str]:
    """The real ``passgate`` entry point, in ``tmp_path``, with ``variables`` set."""
    return subprocess.run(
        [PASSGATE, *args],
        env=server_env(tmp_path / "data", **variables),
        cwd=tmp_path,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], *variables: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert SECRET not in output
    errors = [line for line in done.stderr.splitlines() if not line.startswith("passgate: ")]
    assert len(errors) == len(variables), done.stderr
    for line, variable in zip(errors, variables, strict=True):
        assert line.startswith(f"Error: {variable}: ") or line.startswith(f"{variable}: ")
        assert "expected" in line


def test_every_command_group_refuses_a_bad_database_url_as_a_real_process(
    tmp_path: Path,
) -> None:
    """One command of each group (and serve, quickstart), as the installed script."""
    groups: dict[str, str] = {}
    for name in SAMPLE_ARGS:
        groups.setdefault(name.split()[0], name)
    bad = f"postgresql://passgate:{SECRET}@db.example:port/passgate"
    with ThreadPoolExecutor(4) as pool:
        results = dict(
            zip(
                groups.values(),
                pool.map(
                    lambda name: run(
                        tmp_path, [*name.split(), *SAMPLE_ARGS[name]], PASSGATE_DATABASE_URL=bad
                    ),
                    groups.values(),
                ),
                strict=True,
            )
        )
    for done in results.values():
        assert_refused(done, "PASSGATE_DATABASE_URL")
    assert not (tmp_path / "data").exists()


BAD_SETTINGS = [
    ("PASSGATE_DATABASE_URL", "nonsense"),
    ("PASSGATE_DATABASE_URL", f"mysql://passgate:{SECRET}@db.example/passgate"),
    ("PASSGATE_REDIS_URL", f"http://:{SECRET}@cache.example/0"),
    ("PASSGATE_SMTP_URL", f"smtp://mailer:{SECRET}@mx.example"),
    ("PASSGATE_ISSUER", "not-a-url"),
    ("PASSGATE_HASH_WORKERS", "many"),
    ("PASSGATE_TRUSTED_PROXIES", "10.0.0.0/8,1.2.3"),
    ("PASSGATE_LOG_LEVEL", "loud"),
    ("PASSGATE_MAIL_FROM", "nobody"),
]


@pytest.mark.parametrize("command", ["serve", "quickstart", "clients list"])
def test_serve_quickstart_and_commands_refuse_each_bad_setting_as_real_processes(
    tmp_path: Path, command: str
) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda bad: run(
                    tmp_path, [*command.split(), *SAMPLE_ARGS[command]], **{bad[0]: bad[1]}
                ),
                BAD_SETTINGS,
            )
        )
    for (variable, _), done in zip(BAD_SETTINGS, results, strict=True):
        assert_refused(done, variable)


@pytest.mark.parametrize("command", sorted(SAMPLE_ARGS))
def test_every_command_refuses_bad_settings_with_exit_2(tmp_path: Path, command: str) -> None:
    cli = support.Cli(tmp_path / "data", migrated=False)
    (tmp_path / "corpus.txt").write_text("password\n")
    result = cli.runner.invoke(
        main,
        [*command.split(), *SAMPLE_ARGS[command]],
        input="x\n",
        env={"PASSGATE_HASH_WORKERS": "many", "PASSGATE_ISSUER": "not-a-url"},
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("passgate: ")]
    assert errors == [
        "Error: PASSGATE_ISSUER: not an http:// or https:// URL; expected http:// or https:// "
        "URL without query or fragment",
        "PASSGATE_HASH_WORKERS: 'many' is not valid; expected an integer from 1 to 64",
    ]


@pytest.mark.parametrize("command", ["migrate", "serve", "clients create"])
def test_a_data_directory_that_cannot_be_made_is_refused(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = subprocess.run(
        [PASSGATE, *command.split(), *SAMPLE_ARGS[command]],
        env={**server_env(tmp_path), "PASSGATE_DATA_DIR": str(blocker / "data")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"Error: PASSGATE_DATA_DIR: cannot create {blocker / 'data'}" in done.stderr


def test_serve_refuses_range_answers_without_an_index(tmp_path: Path) -> None:
    done = run(tmp_path, ["serve", "--port", "1"], PASSGATE_BREACHED_RANGE_ENABLED="true")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "PASSGATE_BREACHED_RANGE_ENABLED" in done.stderr
    assert "passgate breached import" in done.stderr


# -- the data directory -----------------------------------------------------------------------


def bare_env(**variables: str) -> dict[str, str]:
    """No PASSGATE_DATA_DIR: the default, relative to the working directory."""
    env = server_env(Path("unused"), **variables)
    del env["PASSGATE_DATA_DIR"]
    return env


def run_in(cwd: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PASSGATE, *args],
        env=bare_env(**variables),
        cwd=cwd,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_read_commands_refuse_a_data_directory_that_does_not_exist(
    tmp_path: Path, command: str
) -> None:
    cli = support.Cli(tmp_path / "nowhere", migrated=False)
    result = cli.run(*command.split(), *SAMPLE_ARGS[command])
    assert result.exit_code == 2, result.output
    assert "no passgate database" in result.stderr
    assert str((tmp_path / "nowhere").resolve()) in result.stderr
    assert "passgate migrate" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_read_command_run_outside_the_data_directory_says_where_it_looked(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert run_in(home, "migrate").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = run_in(elsewhere, "users", "list")

    assert done.returncode == 2
    assert done.stderr.count("\n") <= 2, done.stderr
    assert str(elsewhere / "passgate-data") in done.stderr
    assert "PASSGATE_DATA_DIR" in done.stderr
    assert list(elsewhere.iterdir()) == []
    listed = run_in(home, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"passgate: data directory {home / 'passgate-data'}" in listed.stderr


def test_a_read_command_refuses_a_missing_sqlite_file_named_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other' / 'x.db'}"
    cli = support.Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": url}, migrated=False)
    result = cli.run("clients", "list")
    assert result.exit_code == 2
    assert str(tmp_path / "other" / "x.db") in result.stderr
    assert not (tmp_path / "other").exists()


def test_commands_say_which_data_directory_they_use(tmp_path: Path) -> None:
    cli = support.Cli(tmp_path / "data", migrated=False)
    created = cli.run("clients", "create", "--name", "Shop", "--grant", "password", "--json")
    assert created.exit_code == 0, created.output
    data_dir = (tmp_path / "data").resolve()
    assert f"passgate: data directory {data_dir} (created a new, empty database)" in (
        created.stderr
    )
    listed = cli.run("clients", "list", "--json")
    assert listed.stderr.splitlines()[0] == f"passgate: data directory {data_dir}"


@pytest.mark.postgres
def test_on_postgresql_commands_name_the_database_without_its_password(
    tmp_path: Path, pg_url: str
) -> None:
    url = sa.engine.make_url(pg_url).set(password=SECRET)
    cli = support.Cli(
        tmp_path / "data",
        env={"PASSGATE_DATABASE_URL": url.render_as_string(hide_password=False)},
    )
    result = cli.run("clients", "list")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    shown = url.set(query={}).render_as_string(hide_password=True)  # options may hold one too
    assert "***" in shown
    assert result.stderr.splitlines()[0] == f"passgate: database {shown}"


def test_migrate_serve_and_quickstart_may_create_the_data_directory(tmp_path: Path) -> None:
    done = run_in(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "passgate-data" / "passgate.db").exists()
    assert os.listdir(tmp_path) == ["passgate-data"]
