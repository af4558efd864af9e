"""``POST /dbconnections/signup`` with Auth0's profile fields (SQLite and PostgreSQL).

``given_name``, ``family_name``, ``name``, ``nickname``, ``picture`` and ``user_metadata``
are stored and answered as Auth0 does. A value of the wrong type (a number, a list,
null), an empty one, one too long, a ``picture`` that is not an http(s) URL, or a
``user_metadata`` that breaks Auth0's rules (an object of at most 10 string values,
names of at most 100 characters without ``.`` or ``$``, values of at most 500) gets a
400 in Auth0's ``/dbconnections`` shape before any query, and nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from passgate.storage.schema import users
from passgate.web.dbconnections import dbconnections_routes
from tests.test_accounts import Harness, make_harness
from tests.web.test_dbconnections import BASE, http_client
from tests.web.test_signup_lengths import statements

SIGNUP = "/dbconnections/signup"
PROFILE = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "name": "Ada Lovelace",
    "nickname": "ada",
    "picture": "https://pics.example.com/ada.png",
}
METADATA = {"plan": "silver", "team_id": "a111"}
JSON = {"content-type": "application/json"}


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


def stored_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as db:
        return [dict(row._mapping) for row in db.execute(sa.select(users))]


def assert_bad_body(response: httpx.Response, description: str) -> None:
    """A 400 in Auth0's ``/dbconnections`` shape whose description starts so."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body == {
        "name": "BadRequestError",
        "code": "invalid_body",
        "description": body["description"],
        "statusCode": 400,
        "error": "invalid_body",
        "error_description": body["description"],
    }
    assert body["description"].startswith(description), body["description"]
    assert response.headers["cache-control"] == "no-store"


# -- stored and answered -----------------------------------------------------------------
@pytest.mark.anyio
async def test_the_profile_is_stored_and_answered_like_auth0(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    fields = h.signup_fields(username="ada", **PROFILE, user_metadata=METADATA)
    response = await client.post(SIGNUP, json=fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "_id": body["_id"],
        "email": "ada@example.com",
        "email_verified": False,
        "username": "ada",
        **PROFILE,
        "user_metadata": METADATA,
    }
    user = h.directory.get_user("auth0|" + body["_id"])
    assert user is not None
    assert user.name == "Ada Lovelace"
    profile = user.profile
    assert (profile.given_name, profile.family_name) == ("Ada", "Lovelace")
    assert (profile.nickname, profile.picture) == ("ada", "https://pics.example.com/ada.png")
    assert dict(profile.user_metadata) == METADATA
    # The login lookup reads the same profile (the ID token is made from it).
    connection = h.directory.connection_by_name(user.connection)
    assert connection is not None
    found = h.directory.find_for_login(connection.id, "ada")
    assert found is not None
    assert found[0] == user
    [row] = stored_rows(engine)
    assert json.loads(row["user_metadata"]) == METADATA


@pytest.mark.anyio
async def test_without_a_profile_nothing_more_is_answered_or_stored(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    response = await client.post(SIGNUP, json=h.signup_fields(user_metadata={}))
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"_id", "email", "email_verified"}
    [row] = stored_rows(engine)
    for column in ("name", "given_name", "family_name", "nickname", "picture", "user_metadata"):
        assert row[column] is None, column


@pytest.mark.anyio
async def test_a_form_body_carries_the_text_fields(h: Harness, client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, data=h.signup_fields(**PROFILE))
    assert response.status_code == 200, response.text
    assert {name: response.json()[name] for name in PROFILE} == PROFILE


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value",
    [
        "Zoë",
        "  Ada  ",  # kept as sent
        "李",
        "Ω" * 150,
        "👩‍💻",
    ],
)
async def test_text_is_kept_as_sent(h: Harness, client: httpx.AsyncClient, value: str) -> None:
    response = await client.post(SIGNUP, json=h.signup_fields(given_name=value))
    assert response.status_code == 200, response.text
    assert response.json()["given_name"] == value
    [user] = h.directory.list_users()
    assert user.profile.given_name == value


@pytest.mark.anyio
@pytest.mark.parametrize(
    "picture",
    [
        "http://example.com/a.png",
        "HTTPS://EXAMPLE.COM/A.PNG",
        "https://example.com:8443/a.png?size=64#x",
        "https://[2001:db8::1]/a.png",
        "https://bücher.example/bild.png",
        "https://e.example/" + "p" * (2048 - len("https://e.example/")),
    ],
)
async def test_http_and_https_pictures_are_taken(
    h: Harness, client: httpx.AsyncClient, picture: str
) -> None:
    response = await client.post(SIGNUP, json=h.signup_fields(picture=picture))
    assert response.status_code == 200, response.text
    assert response.json()["picture"] == picture


def roomy_client(h: Harness, max_body_bytes: int) -> httpx.AsyncClient:
    """A client of the sign-up routes with a body cap of ``max_body_bytes``."""
    routes = dbconnections_routes(h.accounts, max_body_bytes=max_body_bytes)
    transport = httpx.ASGITransport(app=Starlette(routes=routes))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


@pytest.mark.anyio
async def test_metadata_at_auth0s_limits_is_stored_whole(h: Harness) -> None:
    metadata = {f"{i}" + "k" * 99: "v" * 500 for i in range(10)}
    metadata["0" + "k" * 99] = ""  # an empty value is a value
    metadata["1" + "k" * 99] = "ü" * 500
    metadata["2" + "🙂" * 99] = "🙂" * 500  # characters, not bytes nor UTF-16 units
    del metadata["2" + "k" * 99]
    async with roomy_client(h, 64 * 1024) as client:
        response = await client.post(SIGNUP, json=h.signup_fields(user_metadata=metadata))
    assert response.status_code == 200, response.text
    assert response.json()["user_metadata"] == metadata
    [user] = h.directory.list_users()
    assert dict(user.profile.user_metadata) == metadata
    assert list(user.profile.user_metadata) == list(metadata)  # order kept


# -- refused ------------------------------------------------------------------------------
TEXT_FIELDS = ["given_name", "family_name", "name", "nickname", "picture"]
LIMITS = {"given_name": 150, "family_name": 150, "name": 256, "nickname": 300, "picture": 2048}

BAD_TEXT: list[Any] = [
    pytest.param(None, "must be a string", id="null"),
    pytest.param(7, "must be a string", id="number"),
    pytest.param(1.5, "must be a string", id="float"),
    pytest.param(True, "must be a string", id="boolean"),
    pytest.param(["Ada"], "must be a string", id="list"),
    pytest.param({"first": "Ada"}, "must be a string", id="object"),
    pytest.param("", "must not be empty", id="empty"),
    pytest.param("   ", "must not be empty", id="blank"),
    pytest.param("\u3000\t", "must not be empty", id="unicode-blank"),
    pytest.param("A\x00da", "contains a NUL character", id="nul"),
    pytest.param("\ud800", "is not valid Unicode text", id="lone-surrogate"),
]


async def assert_refused(
    h: Harness,
    client: httpx.AsyncClient,
    engine: sa.Engine,
    overrides: dict[str, Any],
    description: str,
) -> None:
    # json.dumps escapes what UTF-8 cannot carry (lone surrogates) as JSON text may.
    body = json.dumps({**h.signup_fields(), **overrides}).encode("ascii")
    with statements(engine) as seen:
        response = await client.post(SIGNUP, content=body, headers=JSON)
    assert_bad_body(response, description)
    assert seen == []  # refused before any query
    assert stored_rows(engine) == []
    assert not h.hooks.called
    [event] = h.events.events
    assert (event.type, event.details["error"]["code"]) == ("fs", "invalid_body")


@pytest.mark.anyio
@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(("value", "problem"), BAD_TEXT)
async def test_a_text_field_of_the_wrong_kind_is_refused(
    h: Harness,
    client: httpx.AsyncClient,
    engine: sa.Engine,
    field: str,
    value: Any,
    problem: str,
) -> None:
    await assert_refused(h, client, engine, {field: value}, f"Parameter {field} {problem}")


@pytest.mark.anyio
@pytest.mark.parametrize("field", TEXT_FIELDS)
async def test_a_text_field_one_past_its_limit_is_refused(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine, field: str
) -> None:
    limit = LIMITS[field]
    value = "https://e.example/" + "p" * (limit - 17) if field == "picture" else "ß" * (limit + 1)
    assert len(value) == limit + 1
    await assert_refused(
        h, client, engine, {field: value}, f"Parameter {field} is too long (at most {limit}"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("field", [f for f in TEXT_FIELDS if f != "picture"])
async def test_a_text_field_at_its_limit_is_stored(
    h: Harness, client: httpx.AsyncClient, field: str
) -> None:
    value = "ß" * LIMITS[field]
    response = await client.post(SIGNUP, json=h.signup_fields(**{field: value}))
    assert response.status_code == 200, response.text
    assert response.json()[field] == value


@pytest.mark.anyio
@pytest.mark.parametrize(
    "picture",
    [
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "//example.com/a.png",
        "/a.png",
        "example.com/a.png",
        "https://",
        "https:///a.png",
        "https://example.com:99999/a.png",
        "https://example.com:port/a.png",
        "https://user:secret@example.com/a.png",
        "https://exa mple.com/a.png",
        "https://example.com/a b.png",
        "https://example.com/a.png\n",
        "https://example.com/\x7f.png",
        'https://example.com/"onerror="alert(1)',
        "https://example.com/<script>",
        "https://example.com/a\\b.png",
        "https://[::1/a.png",
    ],
)
async def test_a_picture_that_is_not_an_http_url_is_refused(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine, picture: str
) -> None:
    await assert_refused(
        h, client, engine, {"picture": picture}, "Parameter picture must be an http(s) URL"
    )


BAD_METADATA: list[Any] = [
    pytest.param(None, "must be an object", id="null"),
    pytest.param("plan=silver", "must be an object", id="string"),
    pytest.param(3, "must be an object", id="number"),
    pytest.param(["silver"], "must be an object", id="list"),
    pytest.param(True, "must be an object", id="boolean"),
    pytest.param({"plan": 3}, "values must be strings", id="number-value"),
    pytest.param({"plan": None}, "values must be strings", id="null-value"),
    pytest.param({"plan": True}, "values must be strings", id="boolean-value"),
    pytest.param({"plan": ["a"]}, "values must be strings", id="list-value"),
    pytest.param({"plan": {"tier": "silver"}}, "values must be strings", id="nested"),
    pytest.param(
        {"a": {"b": {"c": {"d": {"e": "deep"}}}}}, "values must be strings", id="nested-deep"
    ),
    pytest.param(
        {f"k{i}": "v" for i in range(11)}, "has more than 10 properties", id="eleven-keys"
    ),
    pytest.param({"k" * 101: "v"}, "property names have at most 100", id="long-name"),
    pytest.param({"ß" * 101: "v"}, "property names have at most 100", id="long-name-unicode"),
    pytest.param({"plan": "v" * 501}, "values have at most 500", id="long-value"),
    pytest.param({"plan": "ü" * 501}, "values have at most 500", id="long-value-unicode"),
    pytest.param({"": "v"}, "property names must not be empty", id="empty-name"),
    pytest.param({"a.b": "v"}, "property names must not contain", id="dot"),
    pytest.param({"$where": "v"}, "property names must not contain", id="dollar"),
    pytest.param({"plan": "a\x00b"}, "contains a NUL character", id="nul-value"),
    pytest.param({"a\x00b": "v"}, "contains a NUL character", id="nul-name"),
    pytest.param({"plan": "\udc80"}, "is not valid Unicode text", id="surrogate-value"),
    pytest.param({"\ud83d": "v"}, "is not valid Unicode text", id="surrogate-name"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("metadata", "problem"), BAD_METADATA)
async def test_user_metadata_against_auth0s_rules_is_refused(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine, metadata: Any, problem: str
) -> None:
    await assert_refused(h, client, engine, {"user_metadata": metadata}, "Parameter user_metadata")
    assert problem in h.events.events[0].details["error"]["message"]


@pytest.mark.anyio
async def test_user_metadata_in_a_form_is_refused(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    response = await client.post(SIGNUP, data=h.signup_fields(user_metadata="plan"))
    assert_bad_body(response, "Parameter user_metadata must be an object")
    assert stored_rows(engine) == []


@pytest.mark.anyio
async def test_metadata_nested_past_the_parsers_depth_is_a_400_not_a_500(
    h: Harness, engine: sa.Engine
) -> None:
    depth = 100_000
    body = json.dumps(h.signup_fields())[:-1] + ', "user_metadata": '
    body += '{"a": ' * depth + '"x"' + "}" * depth + "}"
    async with roomy_client(h, len(body) + 1) as client:
        response = await client.post(SIGNUP, content=body.encode(), headers=JSON)
    assert_bad_body(response, "The body is not valid JSON")
    assert stored_rows(engine) == []


@pytest.mark.anyio
async def test_the_first_bad_field_is_named_and_nothing_is_stored(
    h: Harness, client: httpx.AsyncClient, engine: sa.Engine
) -> None:
    fields = h.signup_fields(**PROFILE, user_metadata={"plan": 1})
    fields["nickname"] = 42
    response = await client.post(SIGNUP, json=fields)
    assert_bad_body(response, "Parameter nickname must be a string")
    assert stored_rows(engine) == []
