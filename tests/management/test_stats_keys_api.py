"""``/api/v2/stats`` counted from the event log, and ``/api/v2/keys/signing``: rotation and
revocation as JWKS, ``/userinfo`` and the Management API see them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509

from passgate.domain.events import Event
from tests.management.helpers import Admin, api_events, assert_api_error, management_token
from tests.protection_e2e.helpers import PASSWORD

pytestmark = pytest.mark.anyio

DAY = 86400.0


def _at(day: str, hour: int = 12) -> float:
    return datetime.strptime(day, "%Y%m%d").replace(hour=hour, tzinfo=UTC).timestamp()


def _log(admin: Admin, *events: tuple[str, float, str | None]) -> None:
    admin.stack.passgate.event_log.append(
        [Event(type=kind, date=date, user_id=user) for kind, date, user in events]
    )


# -- stats -------------------------------------------------------------------------------


async def test_daily_stats_count_logins_signups_and_leaks_per_day(admin: Admin) -> None:
    _log(
        admin,
        ("sepft", _at("20270110", 1), "auth0|a"),
        ("s", _at("20270110", 23), "auth0|b"),
        ("ss", _at("20270110"), "auth0|c"),
        ("pwd_leak", _at("20270111"), None),
        ("signup_pwd_leak", _at("20270111"), None),
        ("reset_pwd_leak", _at("20270111"), None),
        ("fepft", _at("20270111"), "auth0|a"),  # a failure: not counted
        ("sepft", _at("20270109", 23), "auth0|a"),  # before the range
        ("sepft", _at("20270113", 0), "auth0|a"),  # after the range
    )
    response = await admin.call(
        "GET", "/stats/daily", params={"from": "20270110", "to": "20270112"}
    )
    assert response.status_code == 200, response.text
    days = response.json()
    assert [d["date"] for d in days] == [
        "2027-01-10T00:00:00.000Z", "2027-01-11T00:00:00.000Z", "2027-01-12T00:00:00.000Z",
    ]  # fmt: skip
    counts = [(d["logins"], d["signups"], d["leaked_passwords"]) for d in days]
    assert counts == [(2, 1, 0), (0, 0, 3), (0, 0, 0)]
    assert days[0]["created_at"] == "2027-01-10T01:00:00.000Z"
    assert days[0]["updated_at"] == "2027-01-10T23:00:00.000Z"
    assert set(days[2]) == {
        "date",
        "logins",
        "signups",
        "leaked_passwords",
        "created_at",
        "updated_at",
    }


async def test_daily_stats_default_to_the_last_30_days(admin: Admin) -> None:
    days = (await admin.call("GET", "/stats/daily")).json()
    assert len(days) == 30
    assert days[-1]["date"] == "2027-01-15T00:00:00.000Z"
    single = await admin.call("GET", "/stats/daily", params={"from": "20270115", "to": "20270115"})
    assert len(single.json()) == 1


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"from": "2027-01-01"}, "maximum 8"),
        ({"from": "2027011"}, "not a day written YYYYMMDD"),
        ({"from": "20271301"}, "not a day of the calendar"),
        (
            {"from": "\uff12\uff10\uff12\uff17\uff10\uff11\uff10\uff11"},
            "not a day written YYYYMMDD",
        ),
        ({"to": "20270230"}, "not a day of the calendar"),
        ({"from": "20270112", "to": "20270110"}, "is after to"),
        ({"from": "20250101", "to": "20270101"}, "longer than 366 days"),
        ({"from": ""}, "minimum 1"),
        ({"since": "20270101"}, "Additional properties not allowed"),
    ],
)
async def test_daily_stats_refuse_bad_dates(
    admin: Admin, params: dict[str, str], needle: str
) -> None:
    error = assert_api_error(
        await admin.call("GET", "/stats/daily", params=params), 400, "invalid_query_string"
    )
    assert needle in error["message"], error


async def test_daily_stats_refuse_a_repeated_date(admin: Admin) -> None:
    response = await admin.call("GET", "/stats/daily?from=20270101&from=20270102")
    assert_api_error(response, 400, "invalid_query_string")


async def test_active_users_are_distinct_users_logged_in_within_30_days(admin: Admin) -> None:
    now = admin.stack.clock()
    _log(
        admin,
        ("sepft", now - DAY, "auth0|a"),
        ("sepft", now - 2 * DAY, "auth0|a"),
        ("s", now - 29 * DAY, "auth0|b"),
        ("sepft", now - 31 * DAY, "auth0|c"),  # too long ago
        ("fepft", now - DAY, "auth0|d"),  # a failure
        ("ss", now - DAY, "auth0|e"),  # a sign-up
    )
    response = await admin.call("GET", "/stats/active-users")
    assert response.status_code == 200
    assert response.json() == 2


# -- signing keys ------------------------------------------------------------------------


async def _keys(admin: Admin, token: str | None = None) -> list[dict[str, Any]]:
    response = await admin.call("GET", "/keys/signing", token=token)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()
    return keys


async def _jwks_kids(admin: Admin) -> set[str]:
    return {key["kid"] for key in (await admin.http.get("/.well-known/jwks.json")).json()["keys"]}


async def _userinfo(admin: Admin, token: str) -> int:
    answer = await admin.http.get("/userinfo", headers={"authorization": f"Bearer {token}"})
    return answer.status_code


async def test_keys_in_auth0_s_shape_without_private_material(admin: Admin) -> None:
    keys = await _keys(admin)
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["current"] is True
        assert (key["next"], key["previous"], key["revoked"]) == (False, False, False)
        cert = x509.load_pem_x509_certificate(key["cert"].encode())
        assert key["thumbprint"] == key["fingerprint"].replace(":", "")
        assert len(key["thumbprint"]) == 40
        assert key["pkcs7"].startswith("-----BEGIN PKCS7-----")
        assert cert.public_key() is not None
        text = str(key)
        assert "PRIVATE" not in text
        assert '"d"' not in text
    again = await admin.call("GET", f"/keys/signing/{keys[0]['kid']}")
    assert again.json() == keys[0]  # the same certificate every time
    assert_api_error(await admin.call("GET", "/keys/signing/nope"), 404, "inexistent_signing_key")
    assert_api_error(
        await admin.call("GET", "/keys/signing/" + "k" * 300), 404, "inexistent_signing_key"
    )


async def test_rotate_then_revoke_the_previous_key(admin: Admin) -> None:
    stack = admin.stack
    login = await stack.login(admin.http, "alice", PASSWORD)
    old_keys = {k["alg"]: k["kid"] for k in await _keys(admin)}

    rotated = await admin.call("POST", "/keys/signing/rotate")
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert set(body) == {"cert", "kid"}
    keys = {k["kid"]: k for k in await _keys(admin)}
    assert keys[body["kid"]]["current"] is True
    assert keys[old_keys["RS256"]]["previous"] is True
    assert keys[old_keys["RS256"]]["current"] is False
    assert "current_until" in keys[old_keys["RS256"]]
    assert old_keys["RS256"] in await _jwks_kids(admin)
    [event] = api_events(stack, "sapi")
    assert body["kid"] in event.details["changes"]["rotated"]

    old_token = login.json()["access_token"]
    assert await _userinfo(admin, old_token) == 200  # a previous key still verifies
    fresh = (await stack.login(admin.http, "alice", PASSWORD)).json()["access_token"]

    current = await admin.call("PUT", f"/keys/signing/{body['kid']}/revoke")
    assert_api_error(current, 400, "invalid_request")
    revoked = await admin.call("PUT", f"/keys/signing/{old_keys['RS256']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["kid"] == old_keys["RS256"]
    assert old_keys["RS256"] not in await _jwks_kids(admin)
    assert await _userinfo(admin, old_token) == 401
    assert await _userinfo(admin, fresh) == 200

    # The admin's token was signed by the revoked key: refused from now on.
    refused = await admin.call("GET", "/keys/signing")
    assert_api_error(refused, 401, "invalid_token")
    token = await management_token(admin.http, admin.client)
    keys = {k["kid"]: k for k in await _keys(admin, token)}
    assert keys[old_keys["RS256"]]["revoked"] is True
    assert keys[old_keys["RS256"]]["previous"] is False
    assert "revoked_at" in keys[old_keys["RS256"]]
    again = await admin.call("PUT", f"/keys/signing/{old_keys['RS256']}/revoke", token=token)
    assert again.status_code == 200
    unknown = await admin.call("PUT", "/keys/signing/nope/revoke", token=token)
    assert_api_error(unknown, 404, "inexistent_signing_key")
