"""No password, hash, secret, token or token digest reaches a log line, on any failing
path, on SQLite and PostgreSQL.

Logging is captured at DEBUG while requests fail: sign-ups and logins refused, refresh
tokens refused, and statements the database itself refuses (a row it will not take). A
request that fails with a 500 outside the token endpoint is logged here as uvicorn logs
it ("Exception in ASGI application" with the traceback); a traceback shows every
exception of its chain, so SQLAlchemy's ``[parameters: …]`` and PostgreSQL's ``DETAIL:
Failing row contains (…)`` would show the password hash of a new user.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from passgate.storage.db import make_engine
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.tenant import TenantStore
from passgate.support.crypto import keyed_digest
from tests.oauth.conftest import API, BOB_PASSWORD, PASSWORD, World
from tests.oauth.test_token_endpoint import TOKEN, login_with_refresh, refresh_form

pytestmark = pytest.mark.anyio

SIGNUP = "/dbconnections/signup"
NEW_PASSWORD = "a new user's own passphrase 7"
ARGON2 = "$argon2"


class Sabotage:
    """Makes the database refuse rows, and undoes it (the PostgreSQL test schema outlives
    the test; its tables are only emptied between tests)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._undo: list[str] = []

    def _run(self, *statements: str) -> None:
        with self.engine.begin() as db:
            for statement in statements:
                db.execute(sa.text(statement))

    def refuse_rows(self, table: str, column: str, value: str) -> None:
        """Refuse every row of ``table`` written with ``column = value``: a trigger on
        SQLite, a CHECK constraint (not checked against old rows) on PostgreSQL, whose
        error quotes the row it refused."""
        if self.engine.dialect.name == "sqlite":
            for event in ("insert", "update"):
                self._undo.append(f"DROP TRIGGER IF EXISTS refuse_{table}_{event}")
                self._run(
                    f"CREATE TRIGGER refuse_{table}_{event} BEFORE {event} ON {table} "
                    f"WHEN NEW.{column} = '{value}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
        else:
            self._undo.append(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ck_{table}_refused")
            self._run(
                f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_refused "
                f"CHECK ({column} <> '{value}') NOT VALID"
            )

    def fail_inserts(self, table: str) -> None:
        """Make every insert into ``table`` fail with an error that is not a constraint's
        (a server error, answered 500): on SQLite a trigger that writes to a dropped
        table, on PostgreSQL a trigger that raises, quoting the row as PostgreSQL's own
        errors do."""
        self._undo.append(
            f"DROP TRIGGER IF EXISTS fail_{table}"
            + ("" if self.engine.dialect.name == "sqlite" else f" ON {table}")
        )
        if self.engine.dialect.name == "sqlite":
            self._run(
                "CREATE TABLE doomed (value TEXT)",
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                "BEGIN INSERT INTO doomed VALUES (NEW.rowid); END",
                "DROP TABLE doomed",
            )
        else:
            self._undo.append("DROP FUNCTION IF EXISTS fail_insert()")
            self._run(
                "CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'refused by the test' "
                "USING DETAIL = 'Failing row contains ' || NEW::text; END $$",
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fail_insert()",
            )

    def undo(self) -> None:
        self._run(*self._undo)
        self._undo.clear()


@pytest.fixture
def sabotage(sql_url: str) -> Iterator[Sabotage]:
    engine = make_engine(sql_url)
    sabotage = Sabotage(engine)
    try:
        yield sabotage
    finally:
        sabotage.undo()
        engine.dispose()


class ServerLog:
    """Requests that may end in an exception, logged as the ASGI server logs them."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.failures = 0

    async def post(self, url: str, **kwargs: object) -> httpx.Response | None:
        try:
            return await self._http.post(url, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # what uvicorn does with an application's exception
            logging.getLogger("uvicorn.error").error(
                "Exception in ASGI application\n", exc_info=exc
            )
            self.failures += 1
            return None


def logged_text(caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """Every captured record: its line, its arguments and its traceback's chain."""
    yield caplog.text
    for record in caplog.records:
        yield repr(record.args)
        if record.exc_info and record.exc_info[1] is not None:
            yield "".join(traceback.format_exception(record.exc_info[1]))


async def test_no_secret_is_logged_on_any_failing_path(
    world: World,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    sabotage: Sabotage,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = world.passgate.engine
    server = ServerLog(http)
    client_id, client_secret = world.post.id, world.post.secret or ""
    signup = {"client_id": client_id, "connection": DEFAULT_CONNECTION, "password": NEW_PASSWORD}

    # Refused by passgate: no 500 here.
    refused = [
        await server.post(TOKEN, data=world.password_form(password=PASSWORD + "x")),
        await server.post(TOKEN, data=world.password_form(username="nobody", password="x" * 9)),
        await server.post(TOKEN, data=world.password_form(client_secret=client_secret + "x")),
        await server.post(TOKEN, data=refresh_form(world, "not-a-refresh-token")),
        await server.post(SIGNUP, json={**signup, "email": "a@example.com", "password": "1"}),
        await server.post(SIGNUP, json={**signup, "email": "Alice@Example.com"}),
        await server.post(SIGNUP, json={**signup, "email": "ß" * 160 + "@example.com"}),
        await server.post(
            "/dbconnections/change_password",
            json={"client_id": client_id, "connection": DEFAULT_CONNECTION, "email": "x@y.z"},
        ),
    ]
    assert [response.status_code if response else 500 for response in refused] == [
        *(403, 403, 401, 403),
        *(400, 400, 400, 200),
    ]

    # Refused by the database: each a 500, logged with its traceback.
    tokens = await login_with_refresh(world, http)
    refresh_token = tokens["refresh_token"]
    sabotage.refuse_rows("refresh_tokens", "user_id", world.alice.id)
    sabotage.fail_inserts("users")
    failed = [
        await server.post(TOKEN, data=refresh_form(world, refresh_token)),
        await server.post(
            TOKEN, data=world.password_form(audience=API, scope="openid offline_access")
        ),
        await server.post(SIGNUP, json={**signup, "email": "new@example.com"}),
    ]
    assert [response.status_code if response else 500 for response in failed] == [500] * 3
    assert server.failures == 1  # the sign-up; the token endpoint logs its own

    key = TenantStore(engine).digest_key()
    secrets = [
        PASSWORD,
        PASSWORD + "x",
        BOB_PASSWORD,
        NEW_PASSWORD,
        *world.secrets(),
        *(tokens[name] for name in ("access_token", "id_token", "refresh_token")),
        keyed_digest(key, refresh_token),
        keyed_digest(key, client_secret),
        world.stored_hash(world.alice.id),
        ARGON2,
    ]
    text = "\n".join(logged_text(caplog))
    assert "Exception in ASGI application" in text
    assert "the token endpoint failed" in text
    assert [secret for secret in secrets if secret in text] == []
