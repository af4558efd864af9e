"""``GET /api/v2/logs``, ``/logs/{id}`` and ``/users/{id}/logs`` over HTTP: Auth0's log
objects and envelopes, the query language, checkpoint paging, refusals naming the
parameter (the parameters themselves are tested below HTTP in ``test_logs.py``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from passgate.domain.events import Event
from tests.management.helpers import Admin, assert_api_error

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
IP_USER = "203.0.113.7"
IP_APP = "198.51.100.20"


def _seed(admin: Admin) -> list[Event]:
    alice = admin.stack.alice.id
    made = [
        Event("s", date=T0, log_id="l1", ip=IP_USER, client_ip=IP_APP, user_id=alice),
        Event("fp", date=T0 + 1, log_id="l2", ip=IP_USER, client_ip=IP_APP, user_id=alice),
        Event(
            "sepft", date=T0 + 2, log_id="l3", ip=IP_APP, client_ip=IP_APP, client_id="c1",
            details={"forwarded_for_ignored": "client not trusted"},
        ),
        Event("fu", date=T0 + 3, log_id="l4", ip="192.0.2.9", user_name="mallory"),
    ]  # fmt: skip
    admin.stack.passgate.event_log.append(made)
    return made


async def _get(admin: Admin, path: str, **params: str) -> Any:
    response = await admin.call("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_search_by_type_and_ip_shows_ip_beside_client_ip(admin: Admin) -> None:
    _seed(admin)
    found = await _get(admin, "/logs", q="type:fp")
    assert isinstance(found, list)
    assert [log["log_id"] for log in found] == ["l2"]
    assert (found[0]["ip"], found[0]["client_ip"]) == (IP_USER, IP_APP)
    assert found[0]["date"] == "2027-01-15T08:00:01.000Z"
    by_ip = await _get(admin, "/logs", q=f'ip:"{IP_USER}"', sort="date:1")
    assert [log["log_id"] for log in by_ip] == ["l1", "l2"]
    either = await _get(admin, "/logs", search="type:sepft OR type:fu")
    assert [log["log_id"] for log in either] == ["l4", "l3"]


async def test_totals_envelope_and_fields(admin: Admin) -> None:
    _seed(admin)
    body = await _get(admin, "/logs", include_totals="true", per_page="2", q="NOT type:sapi")
    assert isinstance(body, dict)
    assert {k: body[k] for k in ("start", "limit", "length", "total")} == {
        "start": 0, "limit": 2, "length": 2, "total": 4,
    }  # fmt: skip
    only = await _get(admin, "/logs", fields="log_id,type", q="type:s")
    assert only == [{"log_id": "l1", "type": "s"}]


async def test_checkpoint_paging_reads_on_from_a_log_id(admin: Admin) -> None:
    _seed(admin)
    first = await _get(admin, "/logs", take="2", **{"from": ""})
    assert [log["log_id"] for log in first] == ["l1", "l2"]
    rest = await _get(admin, "/logs", take="5", **{"from": "l2"})
    assert [log["log_id"] for log in rest] == ["l3", "l4"]


async def test_one_event_and_a_users_events(admin: Admin) -> None:
    _seed(admin)
    one = await _get(admin, "/logs/l3")
    assert one["details"] == {"forwarded_for_ignored": "client not trusted"}
    missing = await admin.call("GET", "/logs/nope")
    assert_api_error(missing, 404, "inexistent_log")
    mine = await _get(admin, f"/users/{quote(admin.stack.alice.id)}/logs")
    assert [log["log_id"] for log in mine] == ["l2", "l1"]
    nobody = await _get(admin, "/users/auth0%7Cnobody/logs")
    assert nobody == []


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"q": "type:(fp"}, "q"),
        ({"q": "ip:[1 TO"}, "q"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "-1"}, "page"),
        ({"sort": "date"}, "sort"),
        ({"fields": "password"}, "fields"),
        ({"take": "5"}, "take"),
        ({"from": "l1", "page": "1"}, "page"),
        ({"q": "type:s", "search": "type:f"}, "search"),
        ({"q": "x" * 2001}, "q"),
        ({"unknown": "1"}, "unknown"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    admin: Admin, params: dict[str, str], names: str
) -> None:
    body = assert_api_error(await admin.call("GET", "/logs", params=params), 400,
                            "invalid_query_string")  # fmt: skip
    assert names in body["message"]


async def test_a_bad_query_says_where_it_goes_wrong(admin: Admin) -> None:
    body = assert_api_error(
        await admin.call("GET", "/logs", params={"q": "type:s AND (ip:1"}), 400,
        "invalid_query_string",
    )  # fmt: skip
    assert "at character" in body["message"]


async def test_a_repeated_parameter_is_refused(admin: Admin) -> None:
    response = await admin.call("GET", "/logs", params=[("q", "type:s"), ("q", "type:f")])
    assert_api_error(response, 400, "invalid_query_string")


async def test_user_logs_take_only_paging(admin: Admin) -> None:
    response = await admin.call(
        "GET", f"/users/{quote(admin.stack.alice.id)}/logs", params={"q": "type:s"}
    )
    assert_api_error(response, 400, "invalid_query_string")


async def test_the_document_types_the_paging_parameters(admin: Admin) -> None:
    """The log service reads its parameters itself; the document still says what they
    are (found by the conformance run: it said "any string", and most strings are a 400),
    and every value it allows for sort and fields is taken."""
    _seed(admin)
    document = (await admin.http.get("/api/v2/openapi.json")).json()
    for path in ("/logs", "/users/{id}/logs"):
        schemas = {
            param["name"]: param["schema"]
            for param in document["paths"][path]["get"]["parameters"]
            if param["in"] == "query"
        }
        assert schemas["page"] == {"type": "integer", "minimum": 0, "maximum": 999_999_999}
        assert schemas["per_page"] == {"type": "integer", "minimum": 0, "maximum": 100}
        assert schemas["include_totals"] == {"type": "boolean"}
        for sort in schemas["sort"]["enum"]:
            await _get(admin, "/logs", sort=sort, per_page="1")
    logs = {
        param["name"]: param["schema"] for param in document["paths"]["/logs"]["get"]["parameters"]
    }
    assert logs["take"] == {"type": "integer", "minimum": 0, "maximum": 100}
    assert logs["include_fields"] == {"type": "boolean"}
    assert logs["q"] == {"type": "string", "maxLength": 2000}
    pattern = re.compile(logs["fields"]["pattern"])
    for fields in ("", "log_id", "log_id,date,details,hostname"):
        assert pattern.fullmatch(fields)
        await _get(admin, "/logs", fields=fields)
    for fields in (",", "log_id,", "nope", "log_id,,date"):
        assert not pattern.fullmatch(fields)
        response = await admin.call("GET", "/logs", params={"fields": fields})
        assert_api_error(response, 400, "invalid_query_string")
    await _get(admin, "/logs", page="999999999", per_page="0", include_totals="true")
    response = await admin.call("GET", "/logs", params={"page": "1000000000"})
    assert_api_error(response, 400, "invalid_query_string")
