"""``POST /dbconnections/signup`` with values at and past their columns' lengths.

A value is measured as it is stored: an email or username also as its case-folded key,
which can be longer than what was sent (``ß`` folds to ``ss``, ``ﬃ`` to ``ffi``, ``İ`` to
``i̇``). At the limit the user is created; one past it the answer is a 400 in Auth0's
``/dbconnections`` shape, given before any query, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa

from passgate.storage.schema import users
from tests.test_accounts import PASSWORD, Harness, make_harness
from tests.web.test_dbconnections import http_client

SIGNUP = "/dbconnections/signup"
DOMAIN = "@example.com"
EMAIL_MAX = 320
USERNAME_MAX = 128
NAME_MAX = 256


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def h(engine: sa.Engine) -> Harness:
    return make_harness(engine)


@pytest.fixture
async def client(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(h) as client:
        yield client


def email_of(length: int, letter: str = "a") -> str:
    """An address of ``length`` characters whose local part repeats ``letter``."""
    return letter * (length - len(DOMAIN)) + DOMAIN


@contextlib.contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements run through ``engine`` meanwhile."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def stored_users(engine: sa.Engine) -> list[tuple[str, str | None, str | None]]:
    with engine.connect() as db:
        rows = db.execute(sa.select(users.c.email, users.c.username, users.c.name))
        return [tuple(row) for row in rows]


def assert_too_long(response: httpx.Response, field: str, limit: int) -> None:
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert description.startswith(f"Parameter {field} is too long (at most {limit} characters")
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_body",
        "description": description,
        "statusCode": 400,
        "error": "invalid_body",
        "error_description": description,
    }
    assert response.headers["cache-control"] == "no-store"


# Values that fit exactly, as sent and as stored.
AT_THE_LIMIT = [
    pytest.param({"email": email_of(EMAIL_MAX)}, id="email-ascii"),
    pytest.param({"email": email_of(EMAIL_MAX, "é")}, id="email-non-ascii"),
    pytest.param({"email": email_of(EMAIL_MAX, "É")}, id="email-upper-non-ascii"),
    # 154 sharp s fold to 308 letters: 320 once folded, 166 as sent.
    pytest.param({"email": "ß" * 154 + DOMAIN}, id="email-folds-to-the-limit"),
    pytest.param({"username": "u" * USERNAME_MAX}, id="username-ascii"),
    pytest.param({"username": "ü" * USERNAME_MAX}, id="username-non-ascii"),
    pytest.param({"username": "ẞ" * (USERNAME_MAX // 2)}, id="username-folds-to-the-limit"),
    pytest.param({"name": "n" * NAME_MAX}, id="name-ascii"),
    pytest.param({"name": "ß" * NAME_MAX}, id="name-non-ascii"),  # a name is not folded
]

# One character past the limit, as sent or as stored.
PAST_THE_LIMIT = [
    pytest.param({"email": email_of(EMAIL_MAX + 1)}, "email", EMAIL_MAX, id="email-ascii"),
    pytest.param({"email": email_of(EMAIL_MAX + 1, "é")}, "email", EMAIL_MAX, id="email-non-ascii"),
    pytest.param({"email": "ß" * 155 + DOMAIN}, "email", EMAIL_MAX, id="email-sharp-s"),
    pytest.param({"email": "ﬃ" * 103 + DOMAIN}, "email", EMAIL_MAX, id="email-ffi-ligature"),
    pytest.param({"email": "İ" * 155 + DOMAIN}, "email", EMAIL_MAX, id="email-dotted-capital-i"),
    pytest.param(
        {"username": "u" * (USERNAME_MAX + 1)}, "username", USERNAME_MAX, id="username-ascii"
    ),
    pytest.param(
        {"username": "ü" * (USERNAME_MAX + 1)}, "username", USERNAME_MAX, id="username-non-ascii"
    ),
    pytest.param({"username": "ß" * 65}, "username", USERNAME_MAX, id="username-sharp-s"),
    pytest.param({"username": "ﬄ" * 43}, "username", USERNAME_MAX, id="username-ffl-ligature"),
    pytest.param({"name": "n" * (NAME_MAX + 1)}, "name", NAME_MAX, id="name-ascii"),
    pytest.param({"name": "ß" * (NAME_MAX + 1)}, "name", NAME_MAX, id="name-non-ascii"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("overrides", AT_THE_LIMIT)
async def test_values_at_their_limit_are_stored_whole(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine, overrides: dict[str, str]
) -> None:
    response = await client.post(SIGNUP, json=h.signup_fields(**overrides))
    assert response.status_code == 200, response.text
    [(email, username, name)] = stored_users(engine)
    assert email == overrides.get("email", "ada@example.com")
    assert (username, name) == (overrides.get("username"), overrides.get("name"))
    assert h.can_log_in(overrides.get("username") or email, PASSWORD)


@pytest.mark.anyio
@pytest.mark.parametrize(("overrides", "field", "limit"), PAST_THE_LIMIT)
async def test_values_past_their_limit_get_a_400_before_any_query(
    h: Harness,
    client: httpx.AsyncClient,
    engine: sa.Engine,
    overrides: dict[str, str],
    field: str,
    limit: int,
) -> None:
    fields = h.signup_fields(**overrides)
    with statements(engine) as seen:
        response = await client.post(SIGNUP, json=fields)
    assert seen == []
    assert_too_long(response, field, limit)
    assert stored_users(engine) == []
    assert not h.hooks.called
    [event] = h.events.events
    assert (event.type, event.details["error"]["code"]) == ("fs", "invalid_body")


@pytest.mark.anyio
async def test_an_email_that_grows_past_its_column_when_folded_says_so(
    h: Harness, client: httpx.AsyncClient
) -> None:
    response = await client.post(SIGNUP, data=h.signup_fields(email="ß" * 155 + DOMAIN))
    assert_too_long(response, "email", EMAIL_MAX)
    assert "case-folded" in response.json()["description"]


@pytest.mark.anyio
async def test_a_form_body_is_measured_like_json(h: Harness, client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, data=h.signup_fields(username="ß" * 65))
    assert_too_long(response, "username", USERNAME_MAX)
