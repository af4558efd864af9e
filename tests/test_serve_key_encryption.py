"""Signing keys at rest, with real ``passgate`` processes: sealed under a key-encryption
key, refused cleanly without the right one, moved to a new one by ``keys rewrap``."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from joserfc.jwk import RSAKey

from passgate.storage.db import make_engine
from passgate.support.key_encryption import KEY_FILE_NAME, KeyEncryptionKeys
from tests.processes import cli, free_port, server_env
from tests.support import refusal_lines
from tests.test_serve import PASSWORD, Server, password_login
from tests.test_serve_instances import new_key, start

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"
FORWARDED = {"auth0-forwarded-for": "198.51.100.23"}
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture
def servers() -> Any:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def signing_rows(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT * FROM signing_keys")).mappings().all()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def private_values(rows: list[dict[str, Any]], keys: KeyEncryptionKeys) -> list[str]:
    """Every private member of every stored key, unsealed with ``keys``."""
    values = []
    for row in rows:
        jwk = json.loads(keys.unseal(row["private_jwk"], kek_id=row["kek_id"], kid=row["kid"]))
        values += [jwk[name] for name in PRIVATE_MEMBERS if name in jwk]
    assert len(values) >= 2  # an RSA and an EC key
    return values


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("passgate.db*")))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "passgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], *mentions: str) -> str:
    """Exit 2, one line on stderr, no traceback, nothing on stdout."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = refusal_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


def setup_tenant(env: dict[str, str]) -> dict[str, Any]:
    cli(env, "apis", "create", "--identifier", API, "--scope", "read:orders",
        "--allow-offline-access")  # fmt: skip
    client: dict[str, Any] = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password",
        "--grant", "refresh_token", "--trust-ip-header",
    )  # fmt: skip
    cli(env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n")  # fmt: skip
    return client


def verify(base_url: str, token: str) -> dict[str, Any]:
    jwks = httpx.get(base_url + ".well-known/jwks.json").json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=["RS256"], audience=API)
    return claims


def test_the_embedded_default_seals_signing_keys_under_a_0600_key_file(
    tmp_path: Path, servers: list[Server]
) -> None:
    env = server_env(tmp_path / "data")
    start(env, tmp_path, servers, "first")
    assert servers[0].stop() == 0

    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = KeyEncryptionKeys.from_text(key_file.read_text(), source=str(key_file))
    rows = signing_rows(f"sqlite:///{tmp_path / 'data' / 'passgate.db'}")
    assert {row["kek_id"] for row in rows} == {keys.current.id}
    stored = database_bytes(tmp_path / "data")
    for value in private_values(rows, keys):
        assert value.encode() not in stored
    assert keys.current.text().encode() not in stored


@pytest.mark.parametrize(
    ("env_key", "key_file", "mentions"),
    [
        pytest.param("wrong", None, ["PASSGATE_KEY_ENCRYPTION_KEY", "does not hold"], id="wrong"),
        pytest.param("c2hvcnQ", None, ["PASSGATE_KEY_ENCRYPTION_KEY", "32"], id="short"),
        pytest.param("not base64 !!", None, ["PASSGATE_KEY_ENCRYPTION_KEY"], id="malformed"),
        pytest.param(None, 0o640, [KEY_FILE_NAME, "chmod 600"], id="group-readable"),
        pytest.param(None, 0o604, [KEY_FILE_NAME, "chmod 600"], id="world-readable"),
        pytest.param(None, "directory", [KEY_FILE_NAME, "cannot read"], id="unreadable"),
        pytest.param(None, "missing", [KEY_FILE_NAME, "PASSGATE_KEY_ENCRYPTION_KEY"], id="lost"),
    ],
)
def test_serve_and_the_key_commands_refuse_a_wrong_or_unusable_key_in_one_line(
    tmp_path: Path,
    servers: list[Server],
    env_key: str | None,
    key_file: int | str | None,
    mentions: list[str],
) -> None:
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    start(env, tmp_path, servers, "first")  # seals the signing keys under a new key file
    assert servers[0].stop() == 0
    path = data_dir / KEY_FILE_NAME
    secret = path.read_text().strip()
    if env_key is not None:
        env["PASSGATE_KEY_ENCRYPTION_KEY"] = new_key() if env_key == "wrong" else env_key
    if key_file == "directory":
        path.unlink()
        path.mkdir()
    elif key_file == "missing":
        path.unlink()
    elif isinstance(key_file, int):
        path.chmod(key_file)

    for args in (["serve", "--port", str(free_port())], ["keys", "rotate"], ["keys", "rewrap"]):
        line = assert_refused(run(env, *args), *mentions)
        for key_material in (secret, env.get("PASSGATE_KEY_ENCRYPTION_KEY", secret)):
            assert key_material not in line
    if key_file == "missing":
        assert not path.exists()  # never replaced by a new key that opens nothing


def test_rewrap_moves_every_key_to_the_new_key_while_an_old_instance_keeps_serving(
    tmp_path: Path, sql_url: str, servers: list[Server]
) -> None:
    old, new = new_key(), new_key()
    env = server_env(tmp_path / "data", PASSGATE_DATABASE_URL=sql_url)
    client = setup_tenant(env)
    old_env = {**env, "PASSGATE_KEY_ENCRYPTION_KEY": old}
    both_env = {**env, "PASSGATE_KEY_ENCRYPTION_KEY": f"{new},{old}"}
    new_env = {**env, "PASSGATE_KEY_ENCRYPTION_KEY": new}
    login = password_login(client, "alice@example.com", audience=API, scope="offline_access")

    first = start(old_env, tmp_path, servers, "old")
    before = httpx.post(first + "oauth/token", data=login, headers=FORWARDED).json()
    # Step 1: a second instance already knows the new key and still accepts the old one.
    second = start(both_env, tmp_path, servers, "both")
    # Step 2: one transaction seals every signing key under the new key.
    done = cli(both_env, "keys", "rewrap")
    new_id = KeyEncryptionKeys.from_text(new, source="test").current.id
    assert done["kek_id"] == new_id
    assert done["rewrapped"] == len(done["keys"]) >= 2
    assert {row["kek_id"] for row in signing_rows(sql_url)} == {new_id}
    assert cli(both_env, "keys", "rewrap")["rewrapped"] == 0  # nothing left to do

    # The instance that only has the old key keeps signing and verifying meanwhile.
    again = httpx.post(first + "oauth/token", data=login, headers=FORWARDED)
    assert again.status_code == 200, again.text
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": before["refresh_token"],
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }
    refreshed = httpx.post(second + "oauth/token", data=refresh, headers=FORWARDED)
    assert refreshed.status_code == 200, refreshed.text
    for server in servers:
        assert server.stop() == 0
        assert "Traceback" not in server.stderr()

    # Step 3: the old key alone no longer opens them; the new one alone does.
    assert_refused(run(old_env, "serve", "--port", str(free_port())), "does not hold")
    third = start(new_env, tmp_path, servers, "new")
    for token in (before["access_token"], again.json()["access_token"]):
        assert verify(third, token)["sub"].startswith("auth0|")
    refresh["refresh_token"] = refreshed.json()["refresh_token"]
    assert httpx.post(third + "oauth/token", data=refresh, headers=FORWARDED).status_code == 200


def test_a_database_with_plain_text_keys_is_sealed_by_the_first_start_and_tokens_still_verify(
    tmp_path: Path, servers: list[Server]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'passgate.db'}"
    # The database as the previous version left it: schema 0001, a plain-text private JWK.
    engine = make_engine(url)
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[1] / "src/passgate/migrations")
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    private = dict(key.as_dict(private=True))
    private.pop("kid", None)
    kid = key.thumbprint()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO signing_keys (kid, alg, private_jwk, created_at) "
                "VALUES (:kid, 'RS256', :jwk, :now)"
            ),
            {"kid": kid, "jwk": json.dumps(private), "now": time.time()},
        )
    engine.dispose()
    signed_before = jwt.encode(
        {"iss": "x", "aud": API, "sub": "auth0|1", "exp": time.time() + 3600},
        key.private_key,  # type: ignore[arg-type]
        algorithm="RS256",
        headers={"kid": kid},
    )

    base_url = start(server_env(data_dir), tmp_path, servers, "first")

    assert verify(base_url, signed_before)["sub"] == "auth0|1"
    assert servers[0].stop() == 0
    rows = signing_rows(url)
    assert all(row["kek_id"] is not None for row in rows)
    stored = database_bytes(data_dir)
    for name in PRIVATE_MEMBERS:
        assert str(private[name]).encode() not in stored, name
    db = sqlite3.connect(data_dir / "passgate.db")
    try:
        plain = db.execute("SELECT count(*) FROM signing_keys WHERE private_jwk LIKE '{%'")
        assert plain.fetchone() == (0,)
    finally:
        db.close()
