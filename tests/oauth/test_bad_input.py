"""Hostile and broken token requests: always a 4xx OAuth error, never a 500, never a write.

Every refused request must leave users and refresh tokens untouched and write exactly one
``fepft`` event.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passgate.app import Passgate
from passgate.domain.models import PASSWORD_REALM
from passgate.errors import InvalidRequest
from passgate.oauth.request import BasicCredentials, parse_basic, parse_body
from passgate.testing import CapturedEvents, ManualClock
from tests.oauth.conftest import (
    API,
    PASSWORD,
    VerifyCounter,
    World,
    asgi_client,
    assert_oauth_error,
    build_world,
    event_text,
    make_settings,
)

TOKEN = "/oauth/token"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.fixture
async def guarded(world: World) -> AsyncIterator[tuple[World, httpx.AsyncClient]]:
    """The world, checked after the test: nothing written, one ``fepft`` per request."""
    before = world.snapshot()
    async with asgi_client(world.app) as client:
        yield world, client
    assert world.snapshot() == before
    expected = {"fepft", "fertft"}  # the refresh_token grant's failure is "fertft"
    assert {event.type for event in world.events.events} <= expected
    text = event_text(world.events.events)
    for secret in world.secrets():
        assert secret not in text


async def post_raw(
    http: httpx.AsyncClient,
    body: bytes,
    content_type: str | None = FORM,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    return await http.post(TOKEN, content=body, headers=sent)


def form_bytes(world: World, **extra: str) -> bytes:
    return str(httpx.QueryParams(world.password_form(**extra))).encode()


def json_bytes(world: World, **extra: Any) -> bytes:
    document: dict[str, Any] = dict(world.password_form())
    document.update(extra)
    return json.dumps(document).encode()


def refused_once(world: World, response: httpx.Response, status: int, error: str) -> None:
    assert_oauth_error(response, status, error)
    assert len(world.events.events) == 1, world.events.events
    event = world.events.events[0]
    assert event.type == "fepft"
    assert event.details["error"]["error"] == error
    world.events.clear()


pytestmark = pytest.mark.anyio


# -- content types and charsets ---------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/json; charset=utf-16",
        'application/json; charset="iso-8859-1"',
    ],
)
async def test_content_types_other_than_form_and_json_utf8(
    guarded: tuple[World, httpx.AsyncClient], content_type: str | None
) -> None:
    world, http = guarded
    response = await post_raw(http, form_bytes(world), content_type)
    refused_once(world, response, 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
        'application/x-www-form-urlencoded; charset="utf-8"',
    ],
)
async def test_form_content_type_variants_are_accepted(
    world: World, http: httpx.AsyncClient, content_type: str
) -> None:
    response = await post_raw(http, form_bytes(world), content_type)
    assert response.status_code == 200, response.text


async def test_json_with_utf8_charset_is_accepted(world: World, http: httpx.AsyncClient) -> None:
    response = await post_raw(http, json_bytes(world), "application/json; charset=utf-8")
    assert response.status_code == 200, response.text


# -- malformed bodies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON, b""),
        (JSON, b"{"),
        (JSON, b"{'grant_type': 'password'}"),
        (JSON, b"[]"),
        (JSON, b'["grant_type", "password"]'),
        (JSON, b'"password"'),
        (JSON, b"1"),
        (JSON, b"null"),
        (JSON, b"true"),
        (JSON, b"NaN"),
        (JSON, b"[" * 100_00),
        (JSON, b'{"grant_type": "password", "username": 1}'),
        (JSON, b'{"grant_type": "password", "username": ["alice"]}'),
        (JSON, b'{"grant_type": "password", "username": {"$ne": null}}'),
        (JSON, b'{"grant_type": "password", "username": true}'),
        (JSON, b'{"grant_type": "password", "username": 1e999}'),
        (JSON, b'{"grant_type": "password", "username": ' + b"9" * 5000 + b"}"),
        (JSON, b'{"grant_type": "password", "grant_type": "password"}'),
        (JSON, b'{"grant_type": "password", "username": "a\\u0000b"}'),
        (JSON, b'{"grant_type": "password", "username": "\\ud800"}'),
        (JSON, b'{"grant_type": "password", "password": "\\udfff\\ud800"}'),
        (JSON, b'{"grant_type": "password", "user\\u0000name": "x"}'),
        (JSON, b'{"grant_type": "password", "\\ud800": "x"}'),
        (JSON, b'{"grant_type": "password", "username": "\xff\xfe"}'),
        (JSON, b"\xef\xbb\xbf{}"),
        (FORM, b"grant_type=password&grant_type=password"),
        (FORM, b"grant_type=password&username=a&username=b"),
        (FORM, b"grant_type=password&username=a%00b"),
        (FORM, b"grant_type=password&username=a\x00b"),
        (FORM, b"grant_type=password&username=%ff%fe"),
        (FORM, b"grant_type=password&username=\xff\xfe"),
        (FORM, b"grant_type=password&username=%ed%a0%80"),
        (FORM, b"grant_type=password&%ff=x"),
        (FORM, b"&".join(b"p%d=x" % i for i in range(100))),
        (FORM, b"grant_type=password"),
        (FORM, b""),
        (FORM, b"=&=&="),
        (FORM, b"%"),
    ],
)
async def test_malformed_bodies(
    guarded: tuple[World, httpx.AsyncClient], content_type: str, body: bytes
) -> None:
    world, http = guarded
    response = await post_raw(http, body, content_type)
    assert 400 <= response.status_code < 500, response.text
    assert_oauth_error(response, response.status_code, response.json()["error"])
    assert len(world.events.events) == 1


@pytest.mark.parametrize(
    "field", ["username", "password", "client_id", "client_secret", "audience", "scope", "realm"]
)
@pytest.mark.parametrize("value", ["\ud800", "ok\udfff", "a\u0000b"])
async def test_unencodable_strings_in_an_otherwise_valid_json_body(
    guarded: tuple[World, httpx.AsyncClient],
    argon2_verifications: VerifyCounter,
    field: str,
    value: str,
) -> None:
    """Lone surrogates (legal in JSON text, not in UTF-8) and NUL never reach storage."""
    world, http = guarded
    document: dict[str, str] = dict(world.password_form())
    document[field] = value
    if field == "realm":
        document["grant_type"] = PASSWORD_REALM
    body = json.dumps(document).encode()  # ensure_ascii: "\\ud800" escapes
    response = await post_raw(http, body, JSON)
    refused_once(world, response, 400, "invalid_request")
    assert argon2_verifications.count == 0


async def test_unknown_grant_type(guarded: tuple[World, httpx.AsyncClient]) -> None:
    world, http = guarded
    for grant in ("authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "x" * 5000):
        response = await http.post(TOKEN, data=world.password_form(grant_type=grant))
        refused_once(world, response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "missing", ["grant_type", "username", "password", "client_id", "realm", "refresh_token"]
)
async def test_missing_fields(guarded: tuple[World, httpx.AsyncClient], missing: str) -> None:
    world, http = guarded
    grant = {"realm": PASSWORD_REALM, "refresh_token": "refresh_token"}.get(missing, "password")
    form = world.password_form(grant_type=grant, realm="Username-Password-Authentication")
    if missing == "refresh_token":
        form.pop("username")
    form.pop(missing, None)
    response = await http.post(TOKEN, data=form)
    expected = "invalid_client" if missing == "client_id" else "invalid_request"
    if missing == "grant_type":
        assert_oauth_error(response, 400, "invalid_request")
        return
    status = 401 if missing == "client_id" else 400
    assert_oauth_error(response, status, expected)


@pytest.mark.parametrize("field", ["username", "password"])
async def test_empty_username_or_password(
    guarded: tuple[World, httpx.AsyncClient], field: str, argon2_verifications: VerifyCounter
) -> None:
    world, http = guarded
    response = await http.post(TOKEN, data=world.password_form(**{field: ""}))
    refused_once(world, response, 400, "invalid_request")
    assert argon2_verifications.count == 0


@pytest.mark.parametrize(("field", "size"), [("username", 321), ("password", 4097)])
async def test_huge_username_or_password_is_refused_before_hashing(
    guarded: tuple[World, httpx.AsyncClient],
    argon2_verifications: VerifyCounter,
    field: str,
    size: int,
) -> None:
    world, http = guarded
    response = await http.post(TOKEN, data=world.password_form(**{field: "a" * size}))
    refused_once(world, response, 400, "invalid_request")
    assert argon2_verifications.count == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("audience", "https://x.example/" + "a" * 700),
        ("scope", "s " * 3000),
        ("realm", "r" * 2000),
        ("client_id", "c" * 2000),
        ("client_secret", "s" * 10_000),
    ],
)
async def test_huge_other_parameters(
    guarded: tuple[World, httpx.AsyncClient], field: str, value: str
) -> None:
    world, http = guarded
    grant = PASSWORD_REALM if field == "realm" else "password"
    response = await http.post(TOKEN, json=world.password_form(grant_type=grant, **{field: value}))
    assert response.status_code in (400, 401, 403), response.text
    assert_oauth_error(response, response.status_code, response.json()["error"])
    assert len(world.events.events) == 1


async def test_events_of_refused_requests_are_stored(
    tmp_path: Path, sql_url: str, clock: ManualClock
) -> None:
    """Oversized values are cut to fit the event log's columns (on PostgreSQL too)."""
    passgate = Passgate(make_settings(tmp_path, sql_url), clock=clock, buffered_events=False)
    try:
        world = build_world(passgate, CapturedEvents(), clock)
        async with asgi_client(world.app) as http:
            for field, value in [
                ("audience", "https://x.example/" + "a" * 700),
                ("username", "u" * 400),
                ("realm", "r" * 2000),
                ("grant_type", "g" * 2000),
            ]:
                form = world.password_form(**{field: value})
                if field == "realm":
                    form["grant_type"] = PASSWORD_REALM
                response = await http.post(TOKEN, data=form)
                assert 400 <= response.status_code < 500, response.text
        stored = passgate.event_log.recent()
        assert [event.type for event in stored] == ["fepft"] * 4
    finally:
        passgate.close()


# -- oversized bodies -------------------------------------------------------------------


async def test_oversized_body_is_413(guarded: tuple[World, httpx.AsyncClient]) -> None:
    world, http = guarded
    limit = world.passgate.settings.max_body_bytes
    body = form_bytes(world) + b"&pad=" + b"x" * limit
    response = await post_raw(http, body)
    refused_once(world, response, 413, "invalid_request")


async def test_oversized_chunked_body_is_413(guarded: tuple[World, httpx.AsyncClient]) -> None:
    world, http = guarded
    limit = world.passgate.settings.max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield form_bytes(world)
        for _ in range(limit // 1000 + 2):
            yield b"&" + b"x" * 999

    response = await http.post(TOKEN, content=chunks(), headers={"Content-Type": FORM})
    assert "content-length" not in response.request.headers
    refused_once(world, response, 413, "invalid_request")


async def test_body_at_the_limit_is_read(world: World, http: httpx.AsyncClient) -> None:
    limit = world.passgate.settings.max_body_bytes
    body = form_bytes(world) + b"&pad="
    body += b"x" * (limit - len(body))
    response = await post_raw(http, body)
    assert response.status_code == 200, response.text


async def raw_asgi_post(world: World, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """POST to the token endpoint with exactly these header bytes; (status, JSON body)."""
    messages: list[Any] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN,
        "raw_path": TOKEN.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("passgate.test", 80),
        "state": {},
    }

    async def receive() -> Any:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    await world.app(scope, receive, send)
    status = messages[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in messages[1:]))


async def test_lying_content_length_is_refused(world: World) -> None:
    """A Content-Length header that is not ASCII digits (the ASGI server may pass it on)."""
    for declared in (b"\xb2", b"-1", b"1e3", b" 12"):
        headers = [(b"content-type", FORM.encode()), (b"content-length", declared)]
        status, body = await raw_asgi_post(world, headers, b"grant_type=password")
        assert status == 400, declared
        assert body["error"] == "invalid_request"


async def test_latin1_header_bytes_are_refused(world: World) -> None:
    """Header bytes outside ASCII (decoded as latin-1 by Starlette) are not credentials."""
    basic = b"Basic " + base64.b64encode("\u00e9:\u00e9".encode("latin-1"))
    for headers in (
        [(b"content-type", b"application/json; charset=\xe9")],
        [(b"content-type", FORM.encode()), (b"authorization", b"Basic \xe9\xe9")],
        [(b"content-type", FORM.encode()), (b"authorization", basic)],
        [(b"content-type", FORM.encode()), (b"user-agent", b"\xff\xfe")],
    ):
        status, body = await raw_asgi_post(world, headers, b"grant_type=password&username=x")
        assert 400 <= status < 500, headers
        assert set(body) == {"error", "error_description"}


# -- client authentication headers ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Basic " + base64.b64encode(b"id%00:secret").decode(),
        "Basic " + base64.b64encode(b"id:%ff").decode(),
        "Basic " + base64.b64encode(b"id:secret").decode()[:-2],
        "Basic " + "QQ==" * 3000,
        "Bearer some.jwt.value",
        "Digest username=x",
        "basic\tabc",
    ],
)
async def test_malformed_authorization_header(
    guarded: tuple[World, httpx.AsyncClient], header: str
) -> None:
    world, http = guarded
    form = world.password_form(client_id=None, client_secret=None)
    response = await http.post(TOKEN, data=form, headers={"Authorization": header})
    assert response.status_code in (400, 401), response.text
    assert_oauth_error(response, response.status_code, response.json()["error"])
    assert len(world.events.events) == 1


async def test_basic_and_post_secret_together(guarded: tuple[World, httpx.AsyncClient]) -> None:
    world, http = guarded
    creds = base64.b64encode(f"{world.basic.id}:{world.basic.secret}".encode()).decode()
    form = world.password_form(world.basic, client_secret="also-posted")
    response = await http.post(TOKEN, data=form, headers={"Authorization": f"Basic {creds}"})
    refused_once(world, response, 400, "invalid_request")


async def test_refused_logins_change_nothing(
    guarded: tuple[World, httpx.AsyncClient],
) -> None:
    """Right password but a refused request: no refresh token, no rehash, no user change."""
    world, http = guarded
    refusals = [
        world.password_form(audience="https://unknown.example/", scope="offline_access"),
        world.password_form(client_secret="wrong", scope="offline_access", audience=API),
        world.password_form(world.m2m, scope="offline_access"),
        world.password_form(grant_type="nope", scope="offline_access"),
    ]
    for form in refusals:
        response = await http.post(TOKEN, data=form)
        assert 400 <= response.status_code < 500
    assert len(world.events.events) == len(refusals)


async def test_revoke_with_bad_input(world: World, http: httpx.AsyncClient) -> None:
    requests: list[dict[str, Any]] = [
        {"content": b"{", "headers": {"Content-Type": JSON}},
        {"content": b"token=x", "headers": {"Content-Type": "text/plain"}},
        {"data": {"client_id": world.post.id, "client_secret": world.post.secret or ""}},
        {"data": {"token": "x"}},
    ]
    for kwargs in requests:
        response = await http.post("/oauth/revoke", **kwargs)
        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"error", "error_description"}


# -- property-based fuzzing -------------------------------------------------------------

CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            FORM,
            JSON,
            f"{FORM}; charset=utf-8",
            f"{JSON}; charset=UTF-8",
            f"{JSON}; charset=latin-1",
            "text/plain",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)
#: Any code point, lone surrogates and NUL and the form's own delimiters included.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=()),
        st.characters(categories=["Cs"]),
        st.sampled_from("\x00%&=+;\ud800\udfff"),
    ),
    max_size=20,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
JSON_BODIES = st.one_of(
    st.dictionaries(ANY_TEXT, ANY_TEXT | st.none(), max_size=6),
    st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=6),
    JSON_VALUES,
).map(lambda document: json.dumps(document).encode())
FORM_BODIES = st.lists(st.tuples(ANY_TEXT, ANY_TEXT), max_size=6).map(
    lambda pairs: (
        "&".join(f"{name}={value}" for name, value in pairs).encode("utf-8", "surrogateescape")
        if all(_encodable(name + value) for name, value in pairs)
        else b"%ed%a0%80=x"
    )
)
BODIES = st.one_of(st.binary(max_size=300), JSON_BODIES, FORM_BODIES)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _assert_clean_params(params: dict[str, str]) -> None:
    assert isinstance(params, dict)
    for name, value in params.items():
        assert isinstance(name, str)
        assert isinstance(value, str)
        # Every string can go to the database and to argon2 (valid UTF-8, no NUL).
        assert _encodable(name)
        assert _encodable(value)
        assert "\x00" not in value
        assert "\x00" not in name


@settings(max_examples=300, deadline=None)
@given(content_type=CONTENT_TYPES, body=BODIES)
def test_parse_body_returns_strings_or_raises_invalid_request(
    content_type: str | None, body: bytes
) -> None:
    try:
        params = parse_body(content_type, body)
    except InvalidRequest:
        return
    _assert_clean_params(params)


_FORM_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.dictionaries(_FORM_TEXT.filter(bool), _FORM_TEXT, max_size=6),
    plus_for_space=st.booleans(),
)
def test_a_form_body_reads_back_what_a_client_encoded(
    pairs: dict[str, str], plus_for_space: bool
) -> None:
    quote = urllib.parse.quote_plus if plus_for_space else urllib.parse.quote
    body = "&".join(
        f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs.items()
    )
    assert parse_body(FORM, body.encode()) == pairs


def test_form_plus_is_a_space_and_percent_2b_a_plus() -> None:
    assert parse_body(FORM, b"a=x+y&b=x%2By&c=plain&d=%40") == {
        "a": "x y",
        "b": "x+y",
        "c": "plain",
        "d": "@",
    }


@settings(max_examples=200, deadline=None)
@given(body=JSON_BODIES)
def test_parse_json_bodies(body: bytes) -> None:
    try:
        params = parse_body(JSON, body)
    except InvalidRequest:
        return
    _assert_clean_params(params)


@settings(max_examples=300, deadline=None)
@given(
    header=st.one_of(
        st.text(max_size=80),
        st.binary(max_size=60).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
        st.text(max_size=80).map(lambda text: "Basic " + text),
    )
)
def test_parse_basic_returns_credentials_or_raises_invalid_request(header: str) -> None:
    try:
        credentials = parse_basic({"authorization": header})
    except InvalidRequest:
        return
    assert isinstance(credentials, BasicCredentials)
    _assert_clean_params(
        {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
    )


def test_parse_basic_without_a_header() -> None:
    assert parse_basic({}) is None


@pytest.fixture
def fuzz_world(sql_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[World]:
    events = CapturedEvents()
    passgate = Passgate(make_settings(tmp_path, sql_url), clock=clock, events=events)
    try:
        yield build_world(passgate, events, clock)
    finally:
        passgate.close()


def _fields(world: World) -> st.SearchStrategy[dict[str, str]]:
    grants = st.sampled_from(
        ["password", PASSWORD_REALM, "refresh_token", "client_credentials", "other"]
    )
    clients = st.sampled_from([world.post, world.public, world.m2m])
    return st.fixed_dictionaries(
        {"grant_type": grants},
        optional={
            "username": st.sampled_from(["alice", "ALICE@example.com", "x"]) | ANY_TEXT,
            "password": st.sampled_from([PASSWORD, "wrong"]) | ANY_TEXT,
            "client_id": clients.map(lambda c: c.id) | ANY_TEXT,
            "client_secret": clients.map(lambda c: c.secret or "") | ANY_TEXT,
            "audience": st.sampled_from([API, "https://nope/"]) | ANY_TEXT,
            "scope": st.sampled_from(["openid offline_access", "read:things"]) | ANY_TEXT,
            "realm": st.sampled_from(["Username-Password-Authentication"]) | ANY_TEXT,
            "refresh_token": ANY_TEXT,
        },
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_endpoint_never_answers_5xx(fuzz_world: World, data: st.DataObject) -> None:
    world = fuzz_world
    content_type = data.draw(CONTENT_TYPES | st.sampled_from([FORM, JSON] * 3))
    structured = data.draw(_fields(world))
    body = data.draw(
        st.one_of(
            BODIES,
            st.just(json.dumps(structured).encode()),
            st.just(
                "&".join(f"{k}={v}" for k, v in structured.items()).encode("utf-8", "surrogatepass")
            ),
        )
    )
    headers = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "Authorization": st.text(
                    st.characters(min_codepoint=32, max_codepoint=126), max_size=40
                ),
                "auth0-forwarded-for": st.sampled_from(["1.2.3.4", "x", "1.2.3.4, 5.6.7.8"]),
            },
        )
    )

    async def send() -> httpx.Response:
        async with asgi_client(world.app) as http:
            sent = dict(headers)
            if content_type is not None:
                sent["Content-Type"] = content_type
            return await http.post(TOKEN, content=body, headers=sent)

    world.events.clear()
    response = anyio.run(send)
    assert response.status_code < 500, response.text
    assert response.headers["cache-control"] == "no-store"
    if response.status_code != 200:
        assert set(response.json()) == {"error", "error_description"}
    assert len(world.events.events) == 1
