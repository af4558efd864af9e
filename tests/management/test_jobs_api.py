"""``/api/v2/jobs``: user imports (multipart, as curl and Auth0's Node SDK send them) and
exports, their scopes, size limits, errors and events (SQLite; PostgreSQL with Redis)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from passgate.management.jobs import STALE_AFTER_S
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.jobs import Jobs
from tests.import_hashes import user_for
from tests.management.helpers import (
    Admin,
    api_events,
    assert_api_error,
    bearer,
    m2m_client,
    management_token,
)
from tests.protection_e2e.helpers import Stack

pytestmark = pytest.mark.anyio

PASSWORD = "an imported password"
BOUNDARY = "----passgate-test-boundary"


def connection_id(admin: Admin) -> str:
    found = admin.stack.passgate.directory.connection_by_name(DEFAULT_CONNECTION)
    assert found is not None
    return found.id


async def wait_done(admin: Admin, job_id: str) -> dict[str, Any]:
    for _ in range(400):
        response = await admin.call("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


async def start_import(admin: Admin, content: bytes, **fields: str) -> Any:
    data = {"connection_id": connection_id(admin), **fields}
    files = {"users": ("users.json", content, "application/json")}
    return await admin.call("POST", "/jobs/users-imports", data=data, files=files)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    """A multipart/form-data body built by hand: (name, filename or None, content)."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def test_an_import_job_imports_and_its_users_log_in(admin: Admin) -> None:
    rows = [
        user_for("django-pbkdf2-sha256", PASSWORD),
        user_for("laravel-bcrypt-2y", PASSWORD, user_metadata={"plan": "gold"}),
        {"email": "broken@x.example", "password_hash": "md5$x$y"},
    ]
    response = await start_import(
        admin, json.dumps(rows).encode(), upsert="false", external_id="batch-1",
        send_completion_email="false",
    )  # fmt: skip
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["type"] == "users_import"
    assert job["status"] in ("pending", "processing", "completed")
    assert job["connection_id"] == connection_id(admin)
    assert job["external_id"] == "batch-1"
    assert job["id"].startswith("job_")
    assert len(job["id"]) == 20

    done = await wait_done(admin, job["id"])
    assert done["status"] == "completed"
    assert done["summary"] == {"total": 3, "inserted": 2, "updated": 0, "failed": 1}
    errors = await admin.call("GET", f"/jobs/{job['id']}/errors")
    assert errors.status_code == 200
    body = errors.json()
    assert body == [
        {
            "user": {"email": "broken@x.example"},
            "errors": [
                {
                    "code": "INVALID_HASH",
                    "message": body[0]["errors"][0]["message"],
                    "path": "password_hash",
                }
            ],
            "row": 3,
            "offset": body[0]["offset"],
        }
    ]
    assert "md5$x$y" not in errors.text

    stack = admin.stack
    form = {
        "grant_type": "password",
        "username": str(rows[0]["email"]),
        "password": PASSWORD,
        "client_id": stack.untrusted.id,
        "client_secret": stack.untrusted.secret or "",
    }
    login = await admin.http.post("/oauth/token", data=form)
    assert login.status_code == 200, login.text

    sapi = [
        e for e in api_events(stack, "sapi") if e.details["request"]["path"].endswith("imports")
    ]
    assert len(sapi) == 1
    assert sapi[0].details["changes"]["job_id"] == job["id"]
    assert PASSWORD not in json.dumps(sapi[0].details)


async def test_the_node_sdk_and_curl_shapes(admin: Admin) -> None:
    """Auth0's Node SDK sends the file with a filename and booleans as "true"/"false";
    curl -F sends what it is given, the connection by id."""
    rows = json.dumps([{"email": "node@x.example"}]).encode()
    body = multipart(
        [
            ("users", "users.json", rows),
            ("connection_id", None, connection_id(admin).encode()),
            ("upsert", None, b"true"),
            ("send_completion_email", None, b"false"),
        ]
    )
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = await admin.call("POST", "/jobs/users-imports", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert (await wait_done(admin, response.json()["id"]))["summary"]["inserted"] == 1
    # curl -F users=@users.jsonl -F connection_id=Username-Password-Authentication
    lines = b'{"email": "curl@x.example"}\n{"email": "node@x.example"}\n'
    response = await admin.call(
        "POST",
        "/jobs/users-imports",
        data={"connection_id": DEFAULT_CONNECTION, "upsert": "true"},
        files={"users": ("users.jsonl", lines)},
    )
    assert response.status_code == 202, response.text
    done = await wait_done(admin, response.json()["id"])
    assert done["summary"] == {"total": 2, "inserted": 1, "updated": 1, "failed": 0}


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        ([("connection_id", None, b"x")], "users"),
        ([("users", "u.json", b"[]")], "connection_id"),
        ([("users", "u.json", b"[]"), ("connection_id", None, b"Nope")], "connection"),
        ([("users", "u.json", b"[]"), ("connection_id", None, b"c"), ("connection_id", None, b"c")],
         "more than once"),
        ([("users", None, b"[]"), ("connection_id", None, b"c")], "file"),
        ([("users", "u.json", b"[]"), ("connection_id", "c.txt", b"c")], "text field"),
        ([("users", "u.json", b"[]"), ("connection_id", None, b"c"), ("extra", None, b"1")],
         "Additional"),
        ([("users", "u.json", b"[]"), ("connection_id", None, b"c"), ("upsert", None, b"yes")],
         "boolean"),
    ],
)  # fmt: skip
async def test_refused_forms(admin: Admin, parts: list[Any], problem: str) -> None:
    fixed = [
        (name, filename, connection_id(admin).encode() if content == b"c" else content)
        for name, filename, content in parts
    ]
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = await admin.call(
        "POST", "/jobs/users-imports", content=multipart(fixed), headers=headers
    )
    body = assert_api_error(response, 400, "invalid_body")
    assert problem in body["message"]


async def test_not_multipart_and_malformed_bodies(admin: Admin) -> None:
    response = await admin.call("POST", "/jobs/users-imports", json={"users": "[]"})
    assert_api_error(response, 400, "invalid_body", "The body must be multipart/form-data")
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = await admin.call("POST", "/jobs/users-imports", content=b"garbage", headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "content",
    [b'[{"email": "a@x.example"}, {"email": "b@', b"", b'[{"email": "a@x.example"}'],
)
async def test_a_broken_file_is_refused_at_once_and_imports_nobody(
    admin: Admin, content: bytes
) -> None:
    before = admin.stack.passgate.directory.list_users(limit=1000)
    response = await start_import(admin, content)
    body = assert_api_error(response, 400, "invalid_body")
    assert "row" in body["message"]
    assert admin.stack.passgate.directory.list_users(limit=1000) == before


async def test_sizes_at_and_past_the_limit(make_stack: Callable[..., Stack]) -> None:
    limit = 4096
    stack = make_stack(users_import_max_bytes=limit)
    async with stack.http() as http:
        client = m2m_client(stack)
        token = await management_token(http, client)
        connection = stack.passgate.directory.connection_by_name(DEFAULT_CONNECTION)
        assert connection is not None

        def body(size: int) -> bytes:
            rows = b'[{"email": "big@x.example"}]'
            frame = multipart([("users", "u.json", b""), ("connection_id", None, b"")])
            padding = size - len(frame) - len(rows) - len(connection.id)
            return multipart(
                [
                    ("users", "u.json", rows + b" " * padding),
                    ("connection_id", None, connection.id.encode()),
                ]
            )

        headers = {
            **bearer(token),
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        at_limit = body(limit)
        assert len(at_limit) == limit
        response = await http.post("/api/v2/jobs/users-imports", content=at_limit, headers=headers)
        assert response.status_code == 202, response.text
        past = body(limit + 1)
        response = await http.post("/api/v2/jobs/users-imports", content=past, headers=headers)
        assert_api_error(response, 413, "payload_too_large")

        async def chunks() -> Any:  # no Content-Length: counted as it arrives
            yield past[:1000]
            yield past[1000:]

        response = await http.post("/api/v2/jobs/users-imports", content=chunks(), headers=headers)
        assert_api_error(response, 413, "payload_too_large")


async def test_scopes(admin: Admin) -> None:
    stack = admin.stack
    reader = await management_token(admin.http, m2m_client(stack, "Reader", ("read:users",)))
    creator = await management_token(admin.http, m2m_client(stack, "Creator", ("create:users",)))
    response = await admin.call(
        "POST",
        "/jobs/users-imports",
        token=reader,
        data={"connection_id": DEFAULT_CONNECTION},
        files={"users": ("u.json", b"[]")},
    )
    assert_api_error(response, 403, "insufficient_scope")
    response = await admin.call(
        "POST",
        "/jobs/users-imports",
        token=creator,
        data={"connection_id": DEFAULT_CONNECTION},
        files={"users": ("u.json", b"[]")},
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    for token in (reader, creator):
        assert (await admin.call("GET", f"/jobs/{job_id}", token=token)).status_code == 200
        assert (await admin.call("GET", f"/jobs/{job_id}/errors", token=token)).status_code == 200
    response = await admin.call("POST", "/jobs/users-exports", token=creator, json={})
    assert_api_error(response, 403, "insufficient_scope")
    response = await admin.call("GET", "/jobs/job_AAAAAAAAAAAAAAAA", token=reader)
    assert_api_error(response, 404, "inexistent_job")
    response = await admin.call("GET", "/jobs/nope", token=reader)
    assert_api_error(response, 400, "invalid_uri")


async def read_export(admin: Admin, job: dict[str, Any]) -> str:
    assert job["status"] == "completed"
    location = job["location"]
    assert location.startswith("https://passgate.test/api/v2/jobs/")
    response = await admin.call("GET", location.split("/api/v2", 1)[1])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    assert "attachment" in response.headers["content-disposition"]
    return gzip.decompress(response.content).decode()


async def test_exports_in_json_and_csv_with_fields_and_never_a_hash(admin: Admin) -> None:
    rows = [user_for("auth0-bcrypt", PASSWORD, username="ada", user_metadata={"plan": "gold"})]
    response = await start_import(admin, json.dumps(rows).encode())
    await wait_done(admin, response.json()["id"])

    response = await admin.call("POST", "/jobs/users-exports", json={"format": "json"})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["type"] == "users_export"
    assert job["format"] == "json"
    lines = [json.loads(line) for line in (await read_export(admin, job)).splitlines()]
    emails = {line["email"] for line in lines}
    assert "auth0-bcrypt@import.example" in emails
    assert admin.stack.alice.email in emails
    text = json.dumps(lines)
    assert "$2b$" not in text
    assert "argon2" not in text
    assert "password" not in text

    response = await admin.call(
        "POST",
        "/jobs/users-exports",
        json={
            "format": "csv",
            "connection_id": connection_id(admin),
            "fields": [
                {"name": "email", "export_as": "Email"},
                {"name": "username"},
                {"name": "user_metadata.plan", "export_as": "Plan"},
                {"name": "email_verified"},
            ],
            "limit": 1000,
        },
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["limit"] == 1000
    csv_text = await read_export(admin, job)
    header, *body = csv_text.splitlines()
    assert header == "Email,username,Plan,email_verified"
    assert "auth0-bcrypt@import.example,ada,gold,false" in body

    for fields in (
        [{"name": "password_hash"}],
        [{"name": "nope"}],
        [],
        [{"name": "email", "extra": 1}],
    ):
        response = await admin.call("POST", "/jobs/users-exports", json={"fields": fields})
        assert_api_error(response, 400, "invalid_body")
    for body_json in ({"format": "xml"}, {"limit": 0}, {"connection_id": "con_nope"}, {"x": 1}):
        response = await admin.call("POST", "/jobs/users-exports", json=body_json)
        assert_api_error(response, 400, "invalid_body")
    # An import job has no export.
    imported = (await start_import(admin, b"[]")).json()
    response = await admin.call("GET", f"/jobs/{imported['id']}/export")
    assert_api_error(response, 404, "inexistent_job")


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
async def test_metadata_numbers_outside_64_bits_are_refused_not_a_500(
    admin: Admin, number: int
) -> None:
    """No JSON encoder the answer goes through (nor PostgreSQL's jsonb) holds them."""
    user_id = admin.stack.alice.id
    for field in ("app_metadata", "user_metadata"):
        response = await admin.call(
            "PATCH", f"/users/{user_id}", json={field: {"n": [1, {"deep": number}]}}
        )
        body = assert_api_error(response, 400, "invalid_body")
        assert "64-bit" in body["message"] or "too large" in body["message"]


async def test_the_completion_email_goes_to_the_administrators_when_asked(admin: Admin) -> None:
    stack = admin.stack
    stack.passgate.tenant.set("admin_emails", ["sec@example.com", "ops@example.org"])
    rows = [
        user_for("django-pbkdf2-sha256", PASSWORD),
        {"email": "broken@x.example", "password_hash": "md5$x$y"},
    ]
    quiet = await start_import(admin, json.dumps(rows).encode(), send_completion_email="false")
    assert (await wait_done(admin, quiet.json()["id"]))["status"] == "completed"
    assert stack.mailer.sent == []

    rows[0] = user_for("laravel-bcrypt-2y", PASSWORD)
    told = await start_import(admin, json.dumps(rows).encode(), send_completion_email="true")
    job_id = told.json()["id"]
    assert (await wait_done(admin, job_id))["status"] == "completed"
    for _ in range(100):  # the email follows the job's last write
        if len(stack.mailer.sent) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(mail.to for mail in stack.mailer.sent) == ["ops@example.org", "sec@example.com"]
    mail = stack.mailer.sent[0]
    assert mail.subject == "passgate: users import completed"
    assert job_id in mail.text
    assert "total 2, inserted 1, updated 0, failed 1" in mail.text
    assert f"/api/v2/jobs/{job_id}/errors" in mail.text
    assert "md5$x$y" not in mail.text
    assert PASSWORD not in mail.text


async def test_an_unfinished_job_nobody_holds_is_failed_once_its_heartbeat_is_old(
    admin: Admin,
) -> None:
    """A job whose process stopped (kill -9: tests/management/test_processes.py) stays
    unfinished in the database; once nothing has touched it for a minute it reads as
    failed, interrupted. A job this process holds is never taken for interrupted."""
    stack = admin.stack
    jobs = Jobs(stack.passgate.engine)
    orphan = jobs.create(
        type="users_import",
        status="processing",
        connection_id=connection_id(admin),
        options={"upsert": False, "external_id": None, "send_completion_email": False},
        now=stack.clock(),
    )
    stack.clock.advance(STALE_AFTER_S - 1)
    assert (await admin.call("GET", f"/jobs/{orphan.id}")).json()["status"] == "processing"
    stack.clock.advance(2)
    failed = (await admin.call("GET", f"/jobs/{orphan.id}")).json()
    assert failed["status"] == "failed"
    assert failed["status_details"].startswith("interrupted")
    jobs.touch([orphan.id], now=stack.clock())  # a late heartbeat does not revive it
    assert (await admin.call("GET", f"/jobs/{orphan.id}")).json()["status"] == "failed"
    errors = await admin.call("GET", f"/jobs/{orphan.id}/errors")
    assert errors.status_code == 200
