"""The ``passgate`` command, run in process on a data directory of its own per test.

What an operator sees: JSON for scripts, secrets shown once, passwords never taken from the
command line, and refusals that exit 1 with a message and change nothing.
"""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa

from passgate.cli import quickstart as cli_quickstart
from passgate.cli.main import main
from passgate.domain.events import Event
from passgate.domain.management_api import MANAGEMENT_SCOPES
from passgate.domain.models import PASSWORD_REALM
from passgate.keys.ring import KeyRing
from passgate.settings import Settings
from passgate.storage.applications import Applications
from passgate.storage.db import make_engine, sqlite_url
from passgate.storage.directory import DEFAULT_CONNECTION, Directory
from passgate.storage.event_log import EventLog
from passgate.storage.tenant import TenantStore
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import KEY_FILE_NAME, load_key_file
from passgate.support.passwords import PasswordHasher
from passgate.support.tls import TlsFiles
from tests import support

PASSWORD = "correct horse battery staple"
CLIENT_FIELDS = {
    "client_id",
    "name",
    "app_type",
    "token_endpoint_auth_method",
    "grant_types",
    "is_token_endpoint_ip_header_trusted",
    "created_at",
}
USER_FIELDS = {
    "user_id",
    "email",
    "username",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "user_metadata",
    "email_verified",
    "connection",
    "blocked",
    "password_leaked",
    "created_at",
    "updated_at",
}


class Cli(support.Cli):
    """Runs ``passgate`` commands against one data directory."""

    # -- looking behind the CLI, at the database itself ---------------------------------
    def engine(self) -> sa.Engine:
        return make_engine(sqlite_url(self.data_dir))

    def key_ring(self, engine: sa.Engine) -> KeyRing:
        """The signing keys, opened with the key file the CLI made in the data directory."""
        sealer = load_key_file(self.data_dir / KEY_FILE_NAME)
        assert sealer is not None
        return KeyRing(SigningKeys(engine), sealer=sealer)

    def applications(self, engine: sa.Engine) -> Applications:
        return Applications(engine, TenantStore(engine).digest_key())

    def secret_works(self, client_id: str, secret: str) -> bool:
        engine = self.engine()
        try:
            applications = self.applications(engine)
            client = applications.get_client(client_id)
            assert client is not None
            return client.secret_digest == applications.secret_digest(secret)
        finally:
            engine.dispose()

    def password_works(self, email: str, password: str) -> bool:
        engine = self.engine()
        try:
            directory = Directory(engine)
            connection = directory.connection_by_name(DEFAULT_CONNECTION)
            assert connection is not None
            found = directory.find_for_login(connection.id, email)
            assert found is not None
            return PasswordHasher(memory_kib=1024, time_cost=1).verify(found[1], password)
        finally:
            engine.dispose()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


def create_client(cli: Cli, *extra: str) -> dict[str, Any]:
    created: dict[str, Any] = cli.json(
        "clients", "create", "--name", "Web shop", "--grant", "password", *extra
    )
    return created


def create_user(cli: Cli, email: str = "alice@example.com", *extra: str) -> dict[str, Any]:
    created: dict[str, Any] = cli.json(
        "users", "create", "--email", email, "--password-stdin", *extra, input=PASSWORD + "\n"
    )
    return created


# -- every command ------------------------------------------------------------------------


def _leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_but_serve_offers_json_output() -> None:
    lacking = [
        name
        for name, command in _leaf_commands(main)
        if name != "serve" and not any("--json" in p.opts for p in command.params)
    ]
    assert lacking == []


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PASSGATE_ARGON2_TIME_COST", "0", "an integer from 1 to 100"),
        ("PASSGATE_PURGE_INTERVAL_S", "0", "a number greater than 0 and at most 86400"),
        ("PASSGATE_PURGE_INTERVAL_S", "soon", "a number greater than 0 and at most 86400"),
    ],
)
def test_invalid_settings_are_an_error_message_not_a_traceback(
    cli: Cli, variable: str, value: str, expected: str
) -> None:
    result = cli.run("clients", "list", env={variable: value})
    assert result.exit_code == 2
    assert result.stderr == f"Error: {variable}: {value!r} is not valid; expected {expected}\n"
    assert "Traceback" not in result.output


def test_migrate_creates_the_data_directory_and_says_what_it_applied(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data", migrated=False)
    assert not cli.data_dir.exists()
    migrated = cli.json("migrate")
    assert migrated["status"] == "migrated"
    assert migrated["created"] is True
    assert migrated["applied"][0].startswith("0001: ")
    assert migrated["revision"] == migrated["applied"][-1].split(":")[0]
    assert (cli.data_dir / "passgate.db").exists()

    again = cli.json("migrate")
    assert again == {**migrated, "status": "already up to date", "applied": [], "created": False}
    text = cli.run("migrate").stdout
    assert text == f"already up to date (revision {migrated['revision']})\n"


def test_migrate_lists_the_revisions_it_applies(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data", migrated=False)
    result = cli.run("migrate")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    count = len(lines) - 2
    assert lines[0] == f"applied {count} migration{'' if count == 1 else 's'}:"
    assert lines[1].startswith("  0001: ")
    assert lines[-1].startswith("now at revision ")


# -- clients --------------------------------------------------------------------------------


def test_clients_create_shows_the_secret_once_and_it_is_the_stored_one(cli: Cli) -> None:
    created = create_client(cli, "--grant", "password-realm", "--trust-ip-header")

    assert set(created) == CLIENT_FIELDS | {"client_secret"}
    assert created["grant_types"] == ["password", PASSWORD_REALM]
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    assert created["is_token_endpoint_ip_header_trusted"] is True
    assert cli.secret_works(created["client_id"], created["client_secret"])


def test_clients_create_readable_output_shows_id_and_secret(cli: Cli) -> None:
    result = cli.run("clients", "create", "--name", "Shop", "--grant", "password")
    assert result.exit_code == 0
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert cli.secret_works(fields["client_id"].strip(), fields["client_secret"].strip())
    assert "cannot be shown again" in result.stderr


def test_clients_list_never_shows_a_secret_or_its_digest(cli: Cli) -> None:
    created = create_client(cli)
    public = cli.json(
        "clients", "create", "--name", "SPA", "--auth-method", "none", "--grant", "password"
    )
    assert public["client_secret"] is None

    listed = cli.json("clients", "list")
    assert [c["client_id"] for c in listed] == [created["client_id"], public["client_id"]]
    assert all(set(c) == CLIENT_FIELDS for c in listed)

    engine = cli.engine()
    client = cli.applications(engine).get_client(created["client_id"])
    engine.dispose()
    assert client is not None
    assert client.secret_digest
    for output in (json.dumps(listed), cli.run("clients", "list").stdout):
        assert created["client_secret"] not in output
        assert client.secret_digest not in output
    assert "Web shop" in cli.run("clients", "list").stdout


def test_clients_rotate_secret_replaces_the_old_secret(cli: Cli) -> None:
    created = create_client(cli)
    rotated = cli.json("clients", "rotate-secret", created["client_id"])

    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    assert cli.secret_works(created["client_id"], rotated["client_secret"])
    assert not cli.secret_works(created["client_id"], created["client_secret"])


def test_clients_rotate_secret_of_an_unknown_client_is_refused(cli: Cli) -> None:
    create_client(cli)
    message = cli.fails("clients", "rotate-secret", "no-such-client")
    assert "no client" in message


def test_clients_rotate_secret_of_a_public_client_is_refused(cli: Cli) -> None:
    public = cli.json(
        "clients", "create", "--name", "SPA", "--auth-method", "none", "--grant", "password"
    )
    assert "no secret" in cli.fails("clients", "rotate-secret", public["client_id"])


def test_trusting_the_ip_header_of_a_public_client_is_refused_at_creation(cli: Cli) -> None:
    message = cli.fails(
        "clients", "create", "--name", "SPA", "--auth-method", "none",
        "--grant", "password", "--trust-ip-header",
    )  # fmt: skip
    assert "confidential" in message
    assert cli.json("clients", "list") == []


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--grant", "implicit", "unknown grant type"),
        ("--app-type", "mainframe", "app_type must be one of"),
        ("--auth-method", "private_key_jwt", "token_endpoint_auth_method must be one of"),
    ],
)
def test_clients_create_refuses_invalid_values(
    cli: Cli, option: str, value: str, expected: str
) -> None:
    args = ["clients", "create", "--name", "X", "--grant", "password", option, value]
    assert expected in cli.fails(*args)
    assert cli.json("clients", "list") == []


def test_clients_set_trust_turns_the_setting_on_and_off(cli: Cli) -> None:
    created = create_client(cli)
    assert created["is_token_endpoint_ip_header_trusted"] is False

    on = cli.json("clients", "set-trust", created["client_id"], "--on")
    assert on["is_token_endpoint_ip_header_trusted"] is True
    assert cli.json("clients", "list")[0]["is_token_endpoint_ip_header_trusted"] is True

    cli.json("clients", "set-trust", created["client_id"], "--off")
    assert cli.json("clients", "list")[0]["is_token_endpoint_ip_header_trusted"] is False


def test_clients_set_trust_is_refused_for_public_and_unknown_clients(cli: Cli) -> None:
    public = cli.json(
        "clients", "create", "--name", "SPA", "--auth-method", "none", "--grant", "password"
    )
    assert "confidential" in cli.fails("clients", "set-trust", public["client_id"], "--on")
    assert cli.json("clients", "list")[0]["is_token_endpoint_ip_header_trusted"] is False
    assert "no client" in cli.fails("clients", "set-trust", "nope", "--on")
    assert cli.run("clients", "set-trust", public["client_id"]).exit_code != 0


# -- users --------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(cli: Cli) -> None:
    created = create_user(cli, "Alice@Example.com", "--username", "alice", "--email-verified")

    assert set(created) == USER_FIELDS
    assert created["user_id"].startswith("auth0|")
    assert created["email"] == "Alice@Example.com"
    assert created["username"] == "alice"
    assert created["email_verified"] is True
    assert created["connection"] == DEFAULT_CONNECTION
    assert created["blocked"] is False
    assert cli.password_works("alice@example.com", PASSWORD)
    assert not cli.password_works("alice@example.com", PASSWORD + "!")


def test_users_create_prompts_for_the_password_twice_without_echoing_it(cli: Cli) -> None:
    result = cli.run(
        "users", "create", "--email", "bob@example.com", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.stderr
    assert PASSWORD not in result.output
    assert cli.password_works("bob@example.com", PASSWORD)


def test_users_create_prompt_refuses_a_mistyped_confirmation(cli: Cli) -> None:
    result = cli.run(
        "users", "create", "--email", "bob@example.com", input=f"{PASSWORD}\nsomething else\n"
    )
    assert result.exit_code != 0
    assert "do not match" in result.stderr
    assert cli.json("users", "list") == []


def test_users_never_take_a_password_on_the_command_line(cli: Cli) -> None:
    for args in (
        ["users", "create", "--email", "a@example.com", "--password", PASSWORD],
        ["users", "set-password", "a@example.com", "--password", PASSWORD],
    ):
        result = cli.run(*args)
        assert result.exit_code == 2
        assert "No such option" in result.stderr
    assert cli.json("users", "list") == []


def test_users_create_refuses_an_empty_password(cli: Cli) -> None:
    message = cli.fails(
        "users", "create", "--email", "a@example.com", "--password-stdin", input="\n"
    )
    assert "must not be empty" in message
    assert cli.json("users", "list") == []


def test_users_create_refuses_a_duplicate_email_or_username(cli: Cli) -> None:
    first = create_user(cli, "alice@example.com", "--username", "alice")

    assert "exists" in cli.fails(
        "users", "create", "--email", "ALICE@example.com", "--password-stdin", input="x\n"
    )
    assert "exists" in cli.fails(
        "users", "create", "--email", "other@example.com", "--username", "Alice",
        "--password-stdin", input="x\n",
    )  # fmt: skip
    assert [u["user_id"] for u in cli.json("users", "list")] == [first["user_id"]]
    assert cli.password_works("alice@example.com", PASSWORD)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--email", "not-an-email"], "not an email address"),
        (["--email", "a@example.com", "--username", "a@b"], "no '@'"),
        (["--email", "a@example.com", "--connection", "Nope"], "no database connection"),
    ],
)
def test_users_create_refuses_invalid_values(cli: Cli, args: list[str], expected: str) -> None:
    assert expected in cli.fails("users", "create", *args, "--password-stdin", input="pw\n")
    assert cli.json("users", "list") == []


def test_users_list_is_oldest_first_and_limited(cli: Cli) -> None:
    ids = [create_user(cli, f"user{n}@example.com")["user_id"] for n in range(3)]

    assert [u["user_id"] for u in cli.json("users", "list")] == ids
    assert [u["user_id"] for u in cli.json("users", "list", "--limit", "2")] == ids[:2]
    assert cli.json("users", "list", "--connection", DEFAULT_CONNECTION)[0]["user_id"] == ids[0]
    assert "no database connection" in cli.fails("users", "list", "--connection", "Nope")
    readable = cli.run("users", "list").stdout
    assert "user1@example.com" in readable
    assert PASSWORD not in readable


def test_users_set_password_by_email_or_id(cli: Cli) -> None:
    user = create_user(cli)

    changed = cli.json(
        "users", "set-password", "alice@example.com", "--password-stdin", input="new one, long\n"
    )
    assert changed["user_id"] == user["user_id"]
    assert cli.password_works("alice@example.com", "new one, long")
    assert not cli.password_works("alice@example.com", PASSWORD)

    cli.json("users", "set-password", user["user_id"], "--password-stdin", input="third one\n")
    assert cli.password_works("alice@example.com", "third one")


def test_users_set_password_refuses_unknown_users_and_empty_passwords(cli: Cli) -> None:
    create_user(cli)
    assert "no user" in cli.fails(
        "users", "set-password", "bob@example.com", "--password-stdin", input="x\n"
    )
    assert "must not be empty" in cli.fails(
        "users", "set-password", "alice@example.com", "--password-stdin", input="\n"
    )
    assert cli.password_works("alice@example.com", PASSWORD)


def test_users_block_and_unblock(cli: Cli) -> None:
    user = create_user(cli)

    assert cli.json("users", "block", "alice@example.com")["blocked"] is True
    assert cli.json("users", "list")[0]["blocked"] is True
    assert cli.json("users", "unblock", user["user_id"])["blocked"] is False
    assert cli.json("users", "list")[0]["blocked"] is False
    assert "no user" in cli.fails("users", "block", "nobody@example.com")


# -- APIs -----------------------------------------------------------------------------------


def test_apis_create_and_list(cli: Cli) -> None:
    created = cli.json(
        "apis", "create", "--identifier", "https://api.example.com/", "--scope", "read:orders",
        "--scope", "write:orders", "--allow-offline-access", "--token-lifetime", "3600",
        "--signing-alg", "ES256", "--name", "Orders",
    )  # fmt: skip
    assert created["identifier"] == "https://api.example.com/"
    assert created["name"] == "Orders"
    assert created["scopes"] == ["read:orders", "write:orders"]
    assert created["allow_offline_access"] is True
    assert created["token_lifetime"] == 3600
    assert created["signing_alg"] == "ES256"
    assert cli.json("apis", "list") == [created]
    assert "read:orders write:orders" in cli.run("apis", "list").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--identifier", "orders"], "absolute URL"),
        (["--identifier", "https://a.example/", "--token-lifetime", "5"], "token_lifetime"),
        (["--identifier", "https://a.example/", "--signing-alg", "HS256"], "signing_alg"),
        (["--identifier", "https://a.example/", "--scope", "openid"], "OpenID Connect scope"),
    ],
)
def test_apis_create_refuses_invalid_values(cli: Cli, args: list[str], expected: str) -> None:
    assert expected in cli.fails("apis", "create", *args)
    assert cli.json("apis", "list") == []


def test_apis_create_refuses_a_duplicate_identifier(cli: Cli) -> None:
    first = cli.json("apis", "create", "--identifier", "https://a.example/", "--scope", "a")
    assert "exists" in cli.fails("apis", "create", "--identifier", "https://a.example/")
    assert cli.json("apis", "list") == [first]


# -- logs -----------------------------------------------------------------------------------


def _write_events(cli: Cli, *events: Event) -> None:
    cli.json("migrate")
    engine = cli.engine()
    EventLog(engine).append(list(events))
    engine.dispose()


def test_logs_are_newest_first_with_the_auth0_fields(cli: Cli) -> None:
    now = time.time()
    _write_events(
        cli,
        Event("fepft", date=now - 20, ip="203.0.113.5", client_ip="10.0.0.2",
              details={"error": "invalid_grant"}),
        Event("sepft", date=now - 10, ip="203.0.113.5", user_name="alice@example.com"),
        Event("limit_wc", date=now, ip="198.51.100.1"),
    )  # fmt: skip

    found = cli.json("logs")

    assert [e["type"] for e in found] == ["limit_wc", "sepft", "fepft"]
    for field in (
        "date", "type", "description", "log_id", "ip", "client_ip", "client_id",
        "client_name", "connection", "user_id", "user_name", "user_agent", "audience",
        "scope", "details",
    ):  # fmt: skip
        assert field in found[0]
    assert found[2]["details"] == {"error": "invalid_grant"}
    assert found[2]["client_ip"] == "10.0.0.2"
    assert found[1]["date"].endswith("Z")
    assert found[1]["description"] == "Successful exchange of password for access token"
    readable = cli.run("logs").stdout.splitlines()
    assert [line.split()[1] for line in readable] == ["limit_wc", "sepft", "fepft"]


def test_logs_filter_by_type_and_limit(cli: Cli) -> None:
    now = time.time()
    _write_events(cli, *(Event(t, date=now + i) for i, t in enumerate(["fepft", "sepft"] * 3)))

    assert [e["type"] for e in cli.json("logs", "--type", "fepft")] == ["fepft"] * 3
    both = cli.json("logs", "--type", "fepft", "--type", "sepft", "--limit", "4")
    assert [e["type"] for e in both] == ["sepft", "fepft", "sepft", "fepft"]
    assert cli.json("logs", "--type", "limit_mu") == []
    assert cli.run("logs", "--type", "limit_mu").stdout.strip() == "no events"


# -- keys -----------------------------------------------------------------------------------


def test_keys_rotate_keeps_the_old_key_in_the_jwks(cli: Cli) -> None:
    first = cli.json("keys", "rotate", "--alg", "RS256")["rotated"]
    second = cli.json("keys", "rotate", "--alg", "RS256")

    assert len(first) == 1
    assert second["rotated"] != first
    assert set(first + second["rotated"]) <= set(second["jwks_kids"])
    engine = cli.engine()
    published = {key["kid"] for key in cli.key_ring(engine).jwks()["keys"]}
    engine.dispose()
    assert published == set(first + second["rotated"])

    listed = {key["kid"]: key for key in cli.json("keys", "list")}
    assert listed[first[0]]["status"] == "retired"
    assert listed[second["rotated"][0]]["status"] == "active"


def test_keys_rotate_without_alg_rotates_both_and_list_shows_no_private_material(
    cli: Cli,
) -> None:
    rotated = cli.json("keys", "rotate")["rotated"]
    listed = cli.json("keys", "list")

    assert sorted(key["alg"] for key in listed) == ["ES256", "RS256"]
    assert {key["kid"] for key in listed} == set(rotated)
    fields = {"kid", "alg", "status", "created_at", "retired_at", "kek_id"}
    assert all(set(key) == fields for key in listed)
    engine = cli.engine()
    ring = cli.key_ring(engine)
    ring.jwks()  # opens them
    privates = [str(ring._imported[kid].as_dict(private=True)["d"]) for kid in rotated]
    engine.dispose()
    for output in (json.dumps(listed), cli.run("keys", "list").stdout):
        assert not any(private in output for private in privates)


def test_keys_rotate_refuses_an_unknown_algorithm(cli: Cli) -> None:
    assert "RS256" in cli.fails("keys", "rotate", "--alg", "HS256")
    assert cli.json("keys", "list") == []


def test_keys_revoke_unpublishes_a_retired_key_and_refuses_current_and_unknown(cli: Cli) -> None:
    first = cli.json("keys", "rotate", "--alg", "RS256")["rotated"][0]
    second = cli.json("keys", "rotate", "--alg", "RS256")["rotated"][0]

    for kid, message in [
        (second, "rotate the keys first"),
        ("no-such-kid", "does not exist"),
        ("", "does not exist"),
    ]:
        refused = cli.run("keys", "revoke", kid)
        assert refused.exit_code == 2, (refused.output, refused.exception)
        assert isinstance(refused.exception, SystemExit)
        assert message in refused.stderr
    revoked = cli.json("keys", "revoke", first)
    again = cli.json("keys", "revoke", first)  # already revoked: no change, no error

    statuses = {key["kid"]: key["status"] for key in revoked["keys"]}
    assert statuses == {first: "revoked", second: "active"}
    assert again["keys"] == revoked["keys"]
    engine = cli.engine()
    published = {key["kid"] for key in cli.key_ring(engine).jwks()["keys"]}
    engine.dispose()
    assert published == {second}
    assert f"revoked {first}" in cli.run("keys", "revoke", first).stdout


def test_keys_rewrap_new_key_replaces_the_key_file_and_the_keys_still_open(cli: Cli) -> None:
    rotated = cli.json("keys", "rotate")["rotated"]
    path = cli.data_dir / KEY_FILE_NAME
    old = load_key_file(path)
    assert old is not None

    done = cli.json("keys", "rewrap", "--new-key")

    new = load_key_file(path)
    assert new is not None
    assert new.ids == (done["kek_id"],)
    assert done["kek_id"] not in old.ids
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert done["rewrapped"] == 2
    assert {key["kek_id"] for key in done["keys"]} == {done["kek_id"]}
    assert {key["kek_id"] for key in cli.json("keys", "list")} == {done["kek_id"]}
    engine = cli.engine()
    assert {key["kid"] for key in cli.key_ring(engine).jwks()["keys"]} == set(rotated)
    engine.dispose()
    assert cli.json("keys", "rewrap")["rewrapped"] == 0
    assert "every key is now encrypted with" in cli.run("keys", "rewrap").stdout


def test_keys_rewrap_new_key_is_refused_when_the_key_comes_from_the_environment(
    cli: Cli,
) -> None:
    key = support.TEST_KEY_ENCRYPTION_KEY
    env = {"PASSGATE_KEY_ENCRYPTION_KEY": key}
    assert cli.run("keys", "rotate", env=env).exit_code == 0
    result = cli.run("keys", "rewrap", "--new-key", env=env)
    assert result.exit_code == 1
    assert "put the new key first in PASSGATE_KEY_ENCRYPTION_KEY" in result.stderr
    assert key not in result.output
    assert not (cli.data_dir / KEY_FILE_NAME).exists()


# -- quickstart -----------------------------------------------------------------------------


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Quickstart without its server: records what it would have served."""
    calls: list[tuple[str, int, int]] = []

    def record(
        settings: Settings, host: str, port: int, workers: int, tls: TlsFiles | None = None
    ) -> None:
        calls.append((host, port, workers))

    monkeypatch.setattr(cli_quickstart, "run_server", record)
    return calls


def test_quickstart_creates_the_demo_objects_then_serves(
    cli: Cli, no_server: list[tuple[str, int, int]]
) -> None:
    started = cli.json("quickstart", "--port", "8123")

    assert no_server == [("127.0.0.1", 8123, 1)]
    assert cli.data_dir.is_dir()
    client, user, api = started["client"], started["user"], started["api"]
    assert client["is_token_endpoint_ip_header_trusted"] is True
    assert client["token_endpoint_auth_method"] == "client_secret_post"
    assert set(client["grant_types"]) == {"password", PASSWORD_REALM, "refresh_token"}
    assert api["allow_offline_access"] is True
    assert len(api["scopes"]) >= 2
    assert cli.secret_works(client["client_id"], client["client_secret"])
    assert cli.password_works(user["email"], user["password"])
    assert started["token_endpoint"] == "http://127.0.0.1:8123/oauth/token"
    curl = started["curl"]
    for part in (
        client["client_secret"],
        user["password"],
        "auth0-forwarded-for",
        api["identifier"],
    ):
        assert part in curl


def test_quickstart_rerun_reuses_the_demo_objects_with_new_credentials(
    cli: Cli, no_server: list[tuple[str, int, int]]
) -> None:
    first = cli.json("quickstart")
    cli.json("clients", "set-trust", first["client"]["client_id"], "--off")
    second = cli.json("quickstart")

    assert second["client"]["client_id"] == first["client"]["client_id"]
    assert second["user"]["user_id"] == first["user"]["user_id"]
    assert second["api"] == first["api"]
    machine = first["management_client"]["client_id"]
    assert second["management_client"]["client_id"] == machine
    assert len(cli.json("clients", "list")) == 2  # the demo application, the machine
    assert len(cli.json("users", "list")) == 1
    assert len(cli.json("apis", "list")) == 2  # the demo API, the Management API
    assert len(cli.json("client-grants", "list")) == 1
    assert cli.secret_works(machine, second["management_client"]["client_secret"])
    assert not cli.secret_works(machine, first["management_client"]["client_secret"])

    client_id, email = first["client"]["client_id"], first["user"]["email"]
    assert cli.secret_works(client_id, second["client"]["client_secret"])
    assert not cli.secret_works(client_id, first["client"]["client_secret"])
    assert cli.password_works(email, second["user"]["password"])
    assert not cli.password_works(email, first["user"]["password"])
    assert second["client"]["is_token_endpoint_ip_header_trusted"] is True


def test_quickstart_makes_a_client_of_the_management_api_with_every_scope(
    cli: Cli, no_server: list[tuple[str, int, int]]
) -> None:
    started = cli.json("quickstart", "--port", "8123")
    audience = "http://127.0.0.1:8123/api/v2/"
    assert started["management_api"]["identifier"] == audience
    assert started["management_api"]["is_system"] is True
    machine = started["management_client"]
    assert machine["grant_types"] == ["client_credentials"]
    assert cli.secret_works(machine["client_id"], machine["client_secret"])
    (grant,) = cli.json("client-grants", "list", "--client-id", machine["client_id"])
    assert (grant["audience"], grant["scope"]) == (audience, list(MANAGEMENT_SCOPES))
    for part in (machine["client_id"], machine["client_secret"], audience, "client_credentials"):
        assert part in started["management_curl"]
    # A grant narrowed since is given every scope again by the next run.
    cli.json("client-grants", "update", grant["id"], "--scope", "read:logs")
    cli.json("quickstart", "--port", "8123")
    (again,) = cli.json("client-grants", "list")
    assert again == grant


def test_quickstart_readable_output_shows_the_credentials(
    cli: Cli, no_server: list[tuple[str, int, int]]
) -> None:
    result = cli.run("quickstart")

    assert result.exit_code == 0, result.output
    demo, management = result.stdout.split("\nManagement API (audience):")
    for section in (demo, management):
        shown = dict(re.findall(r"^\s*(client_id|client_secret|password):\s+(\S+)", section, re.M))
        assert cli.secret_works(shown["client_id"], shown["client_secret"])
        assert shown["client_secret"] in section.split("curl ", 1)[1]
    assert cli.password_works(cli_quickstart.DEMO_EMAIL, shown_password(demo))
    assert "auth0-forwarded-for: " in demo
    assert "grant_type=client_credentials" in management


def shown_password(text: str) -> str:
    (password,) = re.findall(r"^\s*password:\s+(\S+)", text, re.M)
    return str(password)


def test_quickstart_says_that_a_second_run_replaces_the_secret_and_password(
    cli: Cli, no_server: list[tuple[str, int, int]]
) -> None:
    first = cli.run("quickstart").stdout
    assert "Running quickstart again gives\nthe demo application a new client_secret" in first
    assert "replaced" not in first
    second = cli.run("quickstart").stdout
    assert (
        "This run replaced the demo application's client_secret and the demo user's\n"
        "password: the ones printed before no longer work." in second
    )
    assert cli.json("quickstart")["replaced_credentials"] is True


def test_quickstart_prints_commands_that_run_as_printed(
    cli: Cli, no_server: list[tuple[str, int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    command = cli_quickstart.passgate_command()
    shown = cli.run("quickstart").stdout
    assert f"Events: {command} logs" in shown
    assert cli.json("quickstart")["passgate"] == command


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        (".venv/bin/passgate", None, ".venv/bin/passgate"),
        ("{cwd}/.venv/bin/passgate", None, ".venv/bin/passgate"),
        ("/opt/passgate/bin/passgate", None, "/opt/passgate/bin/passgate"),
        ("/opt/passgate/bin/passgate", "/opt/passgate/bin/passgate", "passgate"),
        ("/opt/passgate/bin/passgate", "/usr/bin/passgate", "/opt/passgate/bin/passgate"),
        ("/x/site-packages/passgate/__main__.py", None, "{python} -m passgate"),
        ("/dir with space/passgate", None, "'/dir with space/passgate'"),
    ],
)
def test_passgate_command_is_how_to_run_this_passgate_again(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv0: str,
    on_path: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [argv0.format(cwd=tmp_path), "quickstart"])
    monkeypatch.setattr("shutil.which", lambda name: on_path)
    monkeypatch.setattr("sys.executable", "/usr/bin/python3")
    assert cli_quickstart.passgate_command() == expected.format(python="/usr/bin/python3")


def test_version(cli: Cli) -> None:
    from importlib.metadata import version

    result = cli.run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"passgate {version('passgate')}\n"
