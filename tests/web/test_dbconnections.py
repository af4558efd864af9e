"""HTTP tests of /dbconnections/signup, /dbconnections/change_password and the reset page."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from html import unescape
from pathlib import Path

import anyio
import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from passgate.accounts.service import RESET_REQUESTED_MESSAGE
from passgate.errors import PasswordLeaked
from passgate.mail.mailer import OutboxMailer, SmtpMailer
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.web.dbconnections import dbconnections_routes
from tests.test_accounts import (
    NEW_PASSWORD,
    PASSWORD,
    CollectingMailer,
    Harness,
    assert_no_secret_in,
    make_harness,
    ticket_in_text,
)
from tests.test_mail import Collector, bodies, free_port, parse

BASE = "http://testserver"
MAX_BODY = 4096


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app_for(h: Harness) -> Starlette:
    return Starlette(routes=dbconnections_routes(h.accounts, max_body_bytes=MAX_BODY))


def http_client(h: Harness) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(h)), base_url=BASE)


@pytest.fixture
def h(engine: sa.Engine) -> Harness:
    return make_harness(engine)


@pytest.fixture
async def client(h: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(h) as client:
        yield client


def ticket_in_page(page: str) -> str:
    found = re.search(r'name="ticket" value="([^"]*)"', page)
    assert found is not None
    return unescape(found.group(1))


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


# -- sign-up -----------------------------------------------------------------------------
@pytest.mark.anyio
async def test_signup_with_json_creates_the_user(h: Harness, client: httpx.AsyncClient) -> None:
    response = await client.post("/dbconnections/signup", json=h.signup_fields())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"_id", "email", "email_verified"}
    assert body["email"] == "ada@example.com"
    assert body["email_verified"] is False
    assert h.can_log_in("ada@example.com", PASSWORD)
    [event] = h.events.events
    assert (event.type, event.ip, event.user_id) == ("ss", "127.0.0.1", f"auth0|{body['_id']}")
    assert_no_secret_in(h.events.events, PASSWORD)


@pytest.mark.anyio
async def test_signup_with_a_form_and_extra_auth0_fields(
    h: Harness, client: httpx.AsyncClient
) -> None:
    form = await client.post(
        "/dbconnections/signup", data={**h.signup_fields(), "given_name": "Ada"}
    )
    assert form.status_code == 200
    metadata = await client.post(
        "/dbconnections/signup",
        json=h.signup_fields(email="b@example.com", user_metadata={"plan": "premium"}),
    )
    assert metadata.status_code == 200


@pytest.mark.anyio
async def test_a_duplicate_signup_gets_auth0s_invalid_signup(
    h: Harness, client: httpx.AsyncClient
) -> None:
    await client.post("/dbconnections/signup", json=h.signup_fields())
    response = await client.post("/dbconnections/signup", json=h.signup_fields())
    assert response.status_code == 400
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_signup",
        "description": "Invalid sign up",
        "statusCode": 400,
        "error": "invalid_signup",
        "error_description": "Invalid sign up",
    }
    assert [event.type for event in h.events.events] == ["ss", "fs"]
    assert_no_secret_in(h.events.events, PASSWORD)


@pytest.mark.anyio
async def test_a_weak_password_is_refused(h: Harness, client: httpx.AsyncClient) -> None:
    response = await client.post("/dbconnections/signup", json=h.signup_fields(password="1234"))
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["name"], body["message"]) == (
        "invalid_password",
        "PasswordStrengthError",
        "Password is too weak",
    )
    assert "at least 8 characters" in body["error_description"]
    assert_no_secret_in(h.events.events, "1234")


@pytest.mark.anyio
async def test_an_unknown_connection_is_refused(h: Harness, client: httpx.AsyncClient) -> None:
    response = await client.post("/dbconnections/signup", json=h.signup_fields(connection="Nope"))
    assert response.status_code == 400
    assert response.json()["code"] == "bad.connection"


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["client_id", "email", "password", "connection"])
async def test_missing_fields_are_named(h: Harness, client: httpx.AsyncClient, field: str) -> None:
    response = await client.post("/dbconnections/signup", json=h.signup_fields(**{field: None}))
    assert response.status_code == 400
    assert response.json()["description"] == f"Missing required parameter: {field}"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b"{not json", 400, "not valid JSON"),
        ("application/json", b"[1, 2]", 400, "must be an object"),
        ("application/json", b'{"a": 1, "a": 2}', 400, "Duplicated"),
        ("application/json", b"\xff\xfe", 400, "not valid UTF-8"),
        ("application/json; charset=latin-1", b"{}", 400, "UTF-8"),
        ("application/json", b"[" * 3000 + b"]" * 3000, 413, "larger than"),
        ("application/json", b"[" * 1500 + b"]" * 1500, 400, "not valid JSON"),
        ("application/json", b'{"\\ud800": 1, "\\ud800": 2}', 400, "Duplicated"),
        ("text/plain", b"email=a", 400, "Content-Type"),
        (None, b"", 400, "Content-Type"),
        ("application/x-www-form-urlencoded", b"email=a&email=b", 400, "Duplicated"),
        ("application/x-www-form-urlencoded", b"email=%FF", 400, "UTF-8"),
    ],
)
async def test_malformed_bodies_are_400s_not_500s(
    h: Harness,
    client: httpx.AsyncClient,
    content_type: str | None,
    body: bytes,
    status: int,
    message: str,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/dbconnections/signup", content=body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["description"]
    assert response.json()["code"] == "invalid_body"
    [event] = h.events.events
    assert event.type == "fs"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "\ud800@example.com", "not valid Unicode"),
        ("password", "pass\udfffword", "not valid Unicode"),
        ("name", "Ada \ud83d", "not valid Unicode"),
        ("username", "a\x00b", "NUL"),
    ],
)
async def test_text_that_no_database_can_store_is_refused(
    h: Harness, client: httpx.AsyncClient, field: str, value: str, message: str
) -> None:
    body = json.dumps(h.signup_fields(**{field: value}))  # escapes lone surrogates
    response = await client.post(
        "/dbconnections/signup", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert message in response.json()["description"]
    if field == "email":
        reset = await client.post(
            "/dbconnections/change_password",
            content=json.dumps({**h.signup_fields(password=None), "email": value}),
            headers={"content-type": "application/json"},
        )
        assert reset.status_code == 400
        assert message in reset.json()["description"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["client_id", "email", "password", "connection", "username", "x"]),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.text(max_size=20),
                st.sampled_from(["\ud800", "a\x00b", "x" * 5000]),
            ),
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_no_body_makes_a_500(h: Harness, content_type: str, body: bytes) -> None:
    async def post() -> list[int]:
        async with http_client(h) as client:
            statuses = []
            for path in ("/dbconnections/signup", "/dbconnections/change_password"):
                response = await client.post(
                    path, content=body, headers={"content-type": content_type}
                )
                statuses.append(response.status_code)
            reset = await client.post(
                "/reset-password", content=body, headers={"content-type": content_type}
            )
            statuses.append(reset.status_code)
            return statuses

    statuses = anyio.run(post)
    assert all(status < 500 for status in statuses), statuses


# -- change_password ---------------------------------------------------------------------
@pytest.mark.anyio
async def test_change_password_answers_the_same_for_unknown_and_real_emails(
    h: Harness, client: httpx.AsyncClient
) -> None:
    h.create_user()
    answers = []
    for email in ("ghost@example.com", "ada@example.com"):
        response = await client.post(
            "/dbconnections/change_password",
            json={
                "client_id": h.client.client_id,
                "email": email,
                "connection": DEFAULT_CONNECTION,
            },
        )
        answers.append((response.status_code, response.headers["content-type"], response.text))
    assert answers[0] == answers[1]
    assert answers[0] == (200, "text/plain; charset=utf-8", RESET_REQUESTED_MESSAGE)
    assert isinstance(h.mailer, CollectingMailer)
    assert [message.to for message in h.mailer.sent] == ["ada@example.com"]


@pytest.mark.anyio
async def test_change_password_refuses_an_unknown_client(
    h: Harness, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/dbconnections/change_password",
        data={"client_id": "nope", "email": "a@example.com", "connection": DEFAULT_CONNECTION},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_client"


@pytest.mark.anyio
async def test_the_whole_reset_through_the_outbox(engine: sa.Engine, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    h = make_harness(engine, mailer=OutboxMailer(outbox, "passgate@example.com"))
    user = h.create_user(email="o'neil&co@example.com")
    async with http_client(h) as client:
        response = await client.post(
            "/dbconnections/change_password",
            data={
                "client_id": h.client.client_id,
                "email": "o'neil&co@example.com",
                "connection": DEFAULT_CONNECTION,
            },
        )
        assert response.text == RESET_REQUESTED_MESSAGE
        [eml] = outbox.iterdir()
        message = parse(eml.read_bytes())
        assert message["To"] == "o'neil&co@example.com"
        link = re.search(r"https://\S+", bodies(message)[0])
        assert link is not None
        path = link.group(0).removeprefix("https://id.example.com")
        assert path.startswith("/reset-password?ticket=")

        page = await client.get(path)
        assert page.status_code == 200
        assert_page_headers(page)
        assert "o&#x27;neil&amp;co@example.com" in page.text
        assert "o'neil&co" not in page.text
        ticket = ticket_in_page(page.text)

        done = await client.post(
            "/reset-password",
            data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        )
        assert done.status_code == 200
        assert_page_headers(done)
        assert "Password changed" in done.text
    assert h.can_log_in(user.email, NEW_PASSWORD)
    assert not h.can_log_in(user.email, PASSWORD)
    assert [event.type for event in h.events.events] == ["scpr", "scp"]


# -- the reset page ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_the_reset_page_sets_the_password_once(h: Harness, client: httpx.AsyncClient) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    page = await client.get("/reset-password", params={"ticket": ticket})
    assert page.status_code == 200
    assert 'action="reset-password"' in page.text
    assert 'autocomplete="new-password"' in page.text
    assert ticket_in_page(page.text) == ticket
    form = {"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    first = await client.post("/reset-password", data=form)
    assert first.status_code == 200
    again = await client.post(
        "/reset-password",
        data={**form, "password": "other password!", "password_confirm": "other password!"},
    )
    assert again.status_code == 410
    assert_page_headers(again)
    assert "invalid or has expired" in again.text
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)
    [(after_user, _)] = h.hooks.afters
    assert after_user.id == user.id
    assert (await client.get("/reset-password", params={"ticket": ticket})).status_code == 410


@pytest.mark.anyio
async def test_an_expired_link_shows_an_error_page(h: Harness, client: httpx.AsyncClient) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    h.clock.advance(3601)
    page = await client.get("/reset-password", params={"ticket": ticket})
    assert page.status_code == 410
    assert_page_headers(page)
    post = await client.post(
        "/reset-password",
        data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert post.status_code == 410
    assert h.can_log_in("ada@example.com", PASSWORD)


@pytest.mark.anyio
@pytest.mark.parametrize("query", ["", "?ticket=", "?ticket=bogus", "?ticket=" + "x" * 5000])
async def test_a_bad_link_shows_an_error_page(client: httpx.AsyncClient, query: str) -> None:
    page = await client.get("/reset-password" + query)
    assert page.status_code == 410
    assert_page_headers(page)


@pytest.mark.anyio
async def test_a_mismatched_confirmation_shows_the_form_again(
    h: Harness, client: httpx.AsyncClient
) -> None:
    user = h.create_user()
    ticket = h.reset_ticket(user)
    response = await client.post(
        "/reset-password",
        data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": "something else"},
    )
    assert response.status_code == 400
    assert_page_headers(response)
    assert "The passwords do not match." in response.text
    assert ticket_in_page(response.text) == ticket
    assert h.can_log_in("ada@example.com", PASSWORD)
    ok = await client.post(
        "/reset-password",
        data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert ok.status_code == 200


@pytest.mark.anyio
async def test_a_password_that_is_not_text_shows_the_form_again(
    h: Harness, client: httpx.AsyncClient
) -> None:
    ticket = h.reset_ticket(h.create_user())
    body = json.dumps(
        {"ticket": ticket, "password": "x\ud800" * 5, "password_confirm": "x\ud800" * 5}
    )
    response = await client.post(
        "/reset-password", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid Unicode" in response.text
    assert h.accounts.reset_form(ticket) is not None


@pytest.mark.anyio
async def test_a_missing_password_shows_the_form_again(
    h: Harness, client: httpx.AsyncClient
) -> None:
    ticket = h.reset_ticket(h.create_user())
    response = await client.post("/reset-password", data={"ticket": ticket})
    assert response.status_code == 400
    assert "Enter the new password twice." in response.text


@pytest.mark.anyio
async def test_a_breached_new_password_is_refused_on_the_page(
    h: Harness, client: httpx.AsyncClient
) -> None:
    ticket = h.reset_ticket(h.create_user())
    h.hooks.refuse_change = PasswordLeaked()
    response = await client.post(
        "/reset-password",
        data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "data breach" in response.text
    assert ticket_in_page(response.text) == ticket
    assert h.can_log_in("ada@example.com", PASSWORD)


@pytest.mark.anyio
async def test_the_page_has_no_external_assets(h: Harness, client: httpx.AsyncClient) -> None:
    ticket = h.reset_ticket(h.create_user())
    page = await client.get("/reset-password", params={"ticket": ticket})
    assert not re.search(r"(src|href)=", page.text)
    assert "<script" not in page.text


# -- end to end through a real SMTP server -------------------------------------------------
@dataclasses.dataclass
class LiveSmtp:
    port: int
    collector: Collector


@pytest.fixture
def live_smtp() -> Iterator[LiveSmtp]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield LiveSmtp(port, collector)
    controller.stop()


@pytest.mark.anyio
async def test_reset_end_to_end_through_smtp(engine: sa.Engine, live_smtp: LiveSmtp) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{live_smtp.port}", "passgate@example.com")
    h = make_harness(engine, mailer=mailer)
    h.create_user()
    async with http_client(h) as client:
        await client.post(
            "/dbconnections/change_password",
            json={
                "client_id": h.client.client_id,
                "email": "ada@example.com",
                "connection": DEFAULT_CONNECTION,
            },
        )
        [envelope] = live_smtp.collector.envelopes
        assert envelope.rcpt_tos == ["ada@example.com"]
        ticket = ticket_in_text(bodies(live_smtp.collector.message())[0])
        response = await client.post(
            "/reset-password",
            data={"ticket": ticket, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        )
        assert response.status_code == 200
    assert h.can_log_in("ada@example.com", NEW_PASSWORD)
