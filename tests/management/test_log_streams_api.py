"""``/api/v2/log-streams``: Auth0's shape (type http), every field checked (lengths at and
past each limit, empty against missing, wrong types, what passgate does not support), the
authorization header never shown nor logged, scopes."""

from __future__ import annotations

from typing import Any

import pytest

from passgate.domain.log_streams import CATEGORIES
from passgate.storage.log_streams import LogStreams
from tests.management.helpers import Admin, api_events, assert_api_error, management_token
from tests.management.helpers import m2m_client as make_m2m

pytestmark = pytest.mark.anyio

SECRET = "Bearer very-secret-value-1234"
URL = "https://siem.example/ingest?source=passgate"


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "SIEM",
        "type": "http",
        "sink": {
            "httpEndpoint": URL,
            "httpContentType": "application/json",
            "httpContentFormat": "JSONARRAY",
            "httpAuthorization": SECRET,
        },
        "filters": [{"type": "category", "name": "auth.token_exchange.fail"}],
    }
    for name, value in changes.items():
        if name.startswith("sink_"):
            key = name[len("sink_") :]
            if value is ...:
                body["sink"].pop(key)
            else:
                body["sink"][key] = value
        elif value is ...:
            body.pop(name)
        else:
            body[name] = value
    return body


async def test_create_read_list_change_and_delete_in_auth0_shape(admin: Admin) -> None:
    created = await admin.call("POST", "/log-streams", json=_body())
    assert created.status_code == 201, created.text
    stream = created.json()
    assert stream["id"].startswith("lst_")
    assert {k: v for k, v in stream.items() if k not in ("id", "delivery")} == {
        "name": "SIEM",
        "type": "http",
        "status": "active",
        "isPriority": False,
        "filters": [{"type": "category", "name": "auth.token_exchange.fail"}],
        "sink": {
            "httpEndpoint": URL,
            "httpContentType": "application/json",
            "httpContentFormat": "JSONARRAY",
            "httpAuthorization": "********",
        },
    }
    assert stream["delivery"] == {
        "last_log_id": stream["delivery"]["last_log_id"],
        "delivered_at": None,
        "failures": 0,
        "last_error": None,
        "retry_at": None,
    }
    read = await admin.call("GET", f"/log-streams/{stream['id']}")
    assert read.json() == stream
    listed = await admin.call("GET", "/log-streams")
    assert listed.json() == [stream]

    changed = await admin.call(
        "PATCH",
        f"/log-streams/{stream['id']}",
        json={"status": "paused", "name": "SIEM 2", "sink": {"httpContentFormat": "JSONLINES"}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "paused"
    assert changed.json()["name"] == "SIEM 2"
    assert changed.json()["sink"] == {**stream["sink"], "httpContentFormat": "JSONLINES"}

    deleted = await admin.call("DELETE", f"/log-streams/{stream['id']}")
    assert deleted.status_code == 204
    gone = await admin.call("GET", f"/log-streams/{stream['id']}")
    assert_api_error(gone, 404, "inexistent_log_stream")
    assert (await admin.call("GET", "/log-streams")).json() == []


async def test_defaults_of_a_minimal_body(admin: Admin) -> None:
    created = await admin.call(
        "POST", "/log-streams", json={"type": "http", "sink": {"httpEndpoint": "http://h/"}}
    )
    assert created.status_code == 201, created.text
    stream = created.json()
    assert stream["name"] == "HTTP log stream"
    assert stream["filters"] == []
    assert stream["sink"] == {
        "httpEndpoint": "http://h/",
        "httpContentType": "application/json",
        "httpContentFormat": "JSONLINES",
    }


async def test_the_authorization_is_sealed_masked_kept_replaced_or_cleared_never_logged(
    admin: Admin,
) -> None:
    stream = (await admin.call("POST", "/log-streams", json=_body())).json()
    store = LogStreams(admin.stack.passgate.engine)
    stored = store.get(stream["id"])
    assert stored is not None
    assert stored.authorization_sealed is not None
    assert SECRET not in stored.authorization_sealed
    path = f"/log-streams/{stream['id']}"

    def opened() -> str | None:
        row = store.get(stream["id"])
        assert row is not None
        if row.authorization_sealed is None:
            return None
        assert row.authorization_kek_id is not None
        return admin.stack.passgate.keys.sealer.unseal(
            row.authorization_sealed, kek_id=row.authorization_kek_id, kid=row.id
        )

    assert opened() == SECRET
    # A GET-modify-PATCH round trip sends the mask back: the header stays.
    round_trip = {"sink": stream["sink"], "name": "again"}
    assert (await admin.call("PATCH", path, json=round_trip)).status_code == 200
    assert opened() == SECRET
    replaced = await admin.call("PATCH", path, json={"sink": {"httpAuthorization": "Basic eA=="}})
    assert replaced.json()["sink"]["httpAuthorization"] == "********"
    assert opened() == "Basic eA=="
    cleared = await admin.call("PATCH", path, json={"sink": {"httpAuthorization": None}})
    assert "httpAuthorization" not in cleared.json()["sink"]
    assert opened() is None

    for event in api_events(admin.stack):
        text = str(event.details)
        assert SECRET not in text
        assert "eA==" not in text


async def test_scopes(admin: Admin) -> None:
    reader = make_m2m(admin.stack, "Reader", scopes=("read:log_streams",))
    token = await management_token(admin.http, reader, scope="read:log_streams")
    assert (await admin.call("GET", "/log-streams", token=token)).status_code == 200
    refused = await admin.call("POST", "/log-streams", json=_body(), token=token)
    body = assert_api_error(refused, 403, "insufficient_scope")
    assert body["message"] == "Insufficient scope, expected any of: create:log_streams"
    stream = (await admin.call("POST", "/log-streams", json=_body())).json()
    for method, scope in (("PATCH", "update:log_streams"), ("DELETE", "delete:log_streams")):
        answer = await admin.call(
            method, f"/log-streams/{stream['id']}", json={"name": "x"}, token=token
        )
        assert_api_error(answer, 403, "insufficient_scope", f"Insufficient scope, expected "
                         f"any of: {scope}")  # fmt: skip


LONG_URL = "https://h.example/" + "a" * (2048 - len("https://h.example/"))
TOO_LONG = object()

REFUSED_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("not an object", {"__body__": ["x"]}, "must be a JSON object"),
    ("unknown field", {"colour": "red"}, "Additional properties not allowed: colour"),
    ("type missing", {"type": ...}, "Missing required property: type"),
    ("type null", {"type": None}, "on property type"),
    ("type number", {"type": 1}, "Expected type string but found type integer"),
    ("type empty", {"type": ""}, "String is too short"),
    ("other Auth0 type", {"type": "eventbridge"}, "of type http only, not eventbridge"),
    ("unknown type", {"type": "HTTP"}, "No enum match"),
    ("sink missing", {"sink": ...}, "Missing required property: sink"),
    ("sink string", {"sink": "http://h/"}, "Expected type object but found type string"),
    ("sink null", {"sink": None}, "Expected type object but found type null"),
    ("endpoint missing", {"sink_httpEndpoint": ...}, "Missing required property: httpEndpoint"),
    ("endpoint empty", {"sink_httpEndpoint": ""}, "String is too short"),
    ("endpoint null", {"sink_httpEndpoint": None}, "found type null"),
    ("endpoint number", {"sink_httpEndpoint": 80}, "found type integer"),
    ("endpoint too long", {"sink_httpEndpoint": LONG_URL + "a"}, "maximum 2048"),
    ("endpoint ftp", {"sink_httpEndpoint": "ftp://h.example/"}, "absolute http"),
    ("endpoint relative", {"sink_httpEndpoint": "/ingest"}, "absolute http"),
    ("endpoint no host", {"sink_httpEndpoint": "http:///x"}, "absolute http"),
    ("endpoint bad port", {"sink_httpEndpoint": "http://h:99999/"}, "absolute http"),
    ("endpoint space", {"sink_httpEndpoint": "http://h/a b"}, "absolute http"),
    ("endpoint line break", {"sink_httpEndpoint": "http://h/\r\nx"}, "absolute http"),
    ("endpoint unicode", {"sink_httpEndpoint": "http://h/é"}, "absolute http"),
    ("endpoint credentials", {"sink_httpEndpoint": "http://u:p@h/"}, "not hold credentials"),
    ("endpoint fragment", {"sink_httpEndpoint": "http://h/#x"}, "fragment"),
    ("content type empty", {"sink_httpContentType": ""}, "String is too short"),
    ("content type bare", {"sink_httpContentType": "json"}, "media type"),
    ("content type header injection",
     {"sink_httpContentType": "application/json\r\nX-Evil: 1"}, "media type"),
    ("content type too long", {"sink_httpContentType": "a/" + "b" * 254}, "maximum 255"),
    ("content type null", {"sink_httpContentType": None}, "found type null"),
    ("format lower case", {"sink_httpContentFormat": "jsonlines"}, "No enum match"),
    ("format unknown", {"sink_httpContentFormat": "XML"}, "No enum match"),
    ("format number", {"sink_httpContentFormat": 1}, "found type integer"),
    ("authorization empty", {"sink_httpAuthorization": ""}, "String is too short"),
    ("authorization null", {"sink_httpAuthorization": None}, "found type null"),
    ("authorization number", {"sink_httpAuthorization": 5}, "found type integer"),
    ("authorization too long", {"sink_httpAuthorization": "a" * 4097}, "maximum 4096"),
    ("authorization line break", {"sink_httpAuthorization": "Bearer a\r\nX: y"}, "header value"),
    ("authorization leading space", {"sink_httpAuthorization": " Bearer a"}, "header value"),
    ("authorization non-ASCII", {"sink_httpAuthorization": "Bearer é"}, "header value"),
    ("custom headers", {"sink_httpCustomHeaders": []}, "do not support custom headers"),
    ("another type's sink field", {"sink_awsRegion": "eu-west-1"}, "Additional properties"),
    ("name empty", {"name": ""}, "String is too short"),
    ("name blank", {"name": "   "}, "visible character"),
    ("name control", {"name": "a\x01b"}, "control"),
    ("name too long", {"name": "n" * 129}, "maximum 128"),
    ("name null", {"name": None}, "found type null"),
    ("name number", {"name": 7}, "found type integer"),
    ("filters object", {"filters": {"type": "category"}}, "Expected type array"),
    ("filters null", {"filters": None}, "found type null"),
    ("filter string", {"filters": ["auth.login.fail"]}, "Expected type object"),
    ("filter without name", {"filters": [{"type": "category"}]}, "Missing required property: name"),
    ("filter without type", {"filters": [{"name": "other"}]}, "Missing required property: type"),
    ("filter other type", {"filters": [{"type": "event", "name": "other"}]}, "expected category"),
    ("filter unknown", {"filters": [{"type": "category", "name": "auth.login"}]}, "category"),
    ("filter pattern", {"filters": [{"type": "category", "name": "auth.*"}]}, "category"),
    ("filter case", {"filters": [{"type": "category", "name": "Other"}]}, "category"),
    ("filter extra key", {"filters": [{"type": "category", "name": "other", "x": 1}]},
     "Additional properties"),
    ("filter repeated", {"filters": [{"type": "category", "name": "other"}] * 2}, "not unique"),
    ("status suspended", {"status": "suspended"}, "suspends a stream itself"),
    ("status upper case", {"status": "ACTIVE"}, "No enum match"),
    ("status boolean", {"status": True}, "found type boolean"),
    ("priority", {"isPriority": True}, "no priority streams"),
    ("priority string", {"isPriority": "false"}, "Expected type boolean"),
    ("PII", {"pii_config": {"method": "mask"}}, "do not support PII masking"),
    ("start date", {"startFrom": "2024-01-01T00:00:00Z"}, "do not support a start date"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "changes", "message"), REFUSED_BODIES, ids=[r[0] for r in REFUSED_BODIES]
)
async def test_a_body_is_refused_with_a_400_naming_what_is_wrong(
    admin: Admin, why: str, changes: dict[str, Any], message: str
) -> None:
    body: Any = changes["__body__"] if "__body__" in changes else _body(**changes)
    refused = await admin.call("POST", "/log-streams", json=body)
    answer = assert_api_error(refused, 400, "invalid_body")
    assert message in answer["message"], answer["message"]
    assert SECRET not in answer["message"]
    assert (await admin.call("GET", "/log-streams")).json() == []


ACCEPTED_AT_LIMITS: list[tuple[str, dict[str, Any]]] = [
    ("endpoint of 2048", {"sink_httpEndpoint": LONG_URL}),
    ("content type of 255", {"sink_httpContentType": "a/" + "b" * 253}),
    ("content type with parameters", {"sink_httpContentType": 'text/plain; charset="utf-8"'}),
    ("authorization of 4096", {"sink_httpAuthorization": "a" * 4096}),
    ("name of 128", {"name": "n" * 128}),
    ("name in Unicode", {"name": "Journal d'accès ✓"}),
    ("every category", {"filters": [{"type": "category", "name": n} for n in CATEGORIES]}),
    ("no filter", {"filters": []}),
    ("no authorization", {"sink_httpAuthorization": ...}),
    ("priority false", {"isPriority": False}),
    ("created paused", {"status": "paused"}),
    ("http with port and IPv6", {"sink_httpEndpoint": "http://[::1]:8080/x?y=1"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "changes"), ACCEPTED_AT_LIMITS, ids=[a[0] for a in ACCEPTED_AT_LIMITS]
)
async def test_values_at_the_limits_are_taken(
    admin: Admin, why: str, changes: dict[str, Any]
) -> None:
    created = await admin.call("POST", "/log-streams", json=_body(**changes))
    assert created.status_code == 201, created.text


REFUSED_CHANGES: list[tuple[str, Any, str]] = [
    ("type", {"type": "http"}, "cannot change"),
    ("status suspended", {"status": "suspended"}, "suspends a stream itself"),
    ("status null", {"status": None}, "found type null"),
    ("endpoint", {"sink": {"httpEndpoint": "mailto:x@y"}}, "absolute http"),
    ("endpoint null", {"sink": {"httpEndpoint": None}}, "found type null"),
    ("authorization empty", {"sink": {"httpAuthorization": ""}}, "String is too short"),
    ("sink null", {"sink": None}, "found type null"),
    ("unknown", {"enabled": False}, "Additional properties not allowed: enabled"),
    ("PII", {"pii_config": {}}, "PII"),
    ("array", [], "must be a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "body", "message"), REFUSED_CHANGES, ids=[r[0] for r in REFUSED_CHANGES]
)
async def test_a_change_is_refused_with_a_400_and_changes_nothing(
    admin: Admin, why: str, body: Any, message: str
) -> None:
    stream = (await admin.call("POST", "/log-streams", json=_body())).json()
    refused = await admin.call("PATCH", f"/log-streams/{stream['id']}", json=body)
    answer = assert_api_error(refused, 400, "invalid_body")
    assert message in answer["message"], answer["message"]
    assert (await admin.call("GET", f"/log-streams/{stream['id']}")).json() == stream


async def test_an_empty_change_changes_nothing(admin: Admin) -> None:
    stream = (await admin.call("POST", "/log-streams", json=_body())).json()
    same = await admin.call("PATCH", f"/log-streams/{stream['id']}", json={})
    assert same.status_code == 200
    assert same.json() == stream


@pytest.mark.parametrize("stream_id", ["lst_nothere", "x" * 41, "LST_" + "0" * 17])
async def test_an_unknown_stream_is_a_404(admin: Admin, stream_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
        answer = await admin.call(method, f"/log-streams/{stream_id}", **kwargs)
        assert_api_error(answer, 404, "inexistent_log_stream")


async def test_at_most_ten_streams(admin: Admin) -> None:
    for number in range(10):
        made = await admin.call("POST", "/log-streams", json=_body(name=f"s{number}"))
        assert made.status_code == 201
    refused = await admin.call("POST", "/log-streams", json=_body(name="eleventh"))
    assert_api_error(refused, 400, "too_many_entities")
