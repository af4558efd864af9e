"""``/api/v2/anomaly/blocks/ips/{ip}``: 200 while suspicious IP throttling refuses the IP,
404 otherwise; DELETE refills its buckets."""

from __future__ import annotations

import pytest

from tests.management.helpers import Admin, assert_api_error
from tests.protection_e2e.helpers import IP_A, IP_B, PASSWORD, WRONG

pytestmark = pytest.mark.anyio

THROTTLING = "/attack-protection/suspicious-ip-throttling"


async def _throttle(admin: Admin, ip: str) -> None:
    """Empty ``ip``'s pre-login bucket: one failure with a bucket of one."""
    await admin.call("PATCH", THROTTLING, json={"stage": {"pre-login": {"max_attempts": 1}}})
    await admin.stack.login(admin.http, "alice", WRONG, forwarded=ip)
    refused = await admin.stack.login(admin.http, "bob", WRONG, forwarded=ip)
    assert refused.status_code == 429, refused.text


async def test_a_throttled_ip_is_200_others_404(admin: Admin) -> None:
    await _throttle(admin, IP_A)
    admin.stack.events.clear()
    blocked = await admin.call("GET", f"/anomaly/blocks/ips/{IP_A}")
    assert blocked.status_code == 200
    assert blocked.content == b""
    # The same address spelled as IPv4-mapped IPv6.
    assert (await admin.call("GET", f"/anomaly/blocks/ips/::ffff:{IP_A}")).status_code == 200
    for other in (IP_B, "2001:db8::1"):
        response = await admin.call("GET", f"/anomaly/blocks/ips/{other}")
        assert_api_error(
            response, 404, "ip_not_blocked", "IP address specified is not currently blocked."
        )
    assert admin.stack.events.of_type("sapi", "fapi") == []


async def test_monitoring_only_or_allowlisted_is_not_blocked(admin: Admin) -> None:
    await _throttle(admin, IP_A)
    await admin.call("PATCH", THROTTLING, json={"shields": ["admin_notification"]})
    assert (await admin.call("GET", f"/anomaly/blocks/ips/{IP_A}")).status_code == 404
    await admin.call(
        "PATCH", THROTTLING, json={"shields": ["block"], "allowlist": ["198.51.100.0/24"]}
    )
    assert (await admin.call("GET", f"/anomaly/blocks/ips/{IP_A}")).status_code == 404
    await admin.call("PATCH", THROTTLING, json={"allowlist": []})
    assert (await admin.call("GET", f"/anomaly/blocks/ips/{IP_A}")).status_code == 200


async def test_delete_unblocks_and_logs_it(admin: Admin) -> None:
    stack = admin.stack
    await _throttle(admin, IP_A)
    stack.events.clear()
    response = await admin.call("DELETE", f"/anomaly/blocks/ips/{IP_A}")
    assert response.status_code == 204
    assert response.content == b""
    [sapi] = stack.events.of_type("sapi")
    assert sapi.client_id == admin.client.id
    assert sapi.description == "Remove the blocked IP address"
    assert sapi.details["changes"] == {
        "ip": IP_A,
        "was_throttled": True,
        "throttled_stages": ["pre-login"],
        "refilled": True,
    }
    assert (await admin.call("GET", f"/anomaly/blocks/ips/{IP_A}")).status_code == 404
    assert (await stack.login(admin.http, "alice", PASSWORD, forwarded=IP_A)).status_code == 200
    # Not blocked: still 204.
    response = await admin.call("DELETE", f"/anomaly/blocks/ips/{IP_B}")
    assert response.status_code == 204


@pytest.mark.parametrize(
    "ip",
    ["abc", "1.2.3.256", "1.2.3.4.5", "fe80::1%25eth0", "1.2.3.4%2524", "%20", "a" * 200,
     "%C2%A01.2.3.4", "1.2.3.4%00"],
)  # fmt: skip
async def test_a_bad_ip_is_400(admin: Admin, ip: str) -> None:
    for method in ("GET", "DELETE"):
        response = await admin.call(method, f"/anomaly/blocks/ips/{ip}")
        body = assert_api_error(response, 400, "invalid_uri")
        assert body["message"].startswith("Path validation error: ")
        assert len(body["message"]) < 200


async def test_a_cidr_is_no_ip_path(admin: Admin) -> None:
    """``1.2.3.0/24`` is two path segments: no such endpoint."""
    response = await admin.call("GET", "/anomaly/blocks/ips/1.2.3.0%2F24")
    assert_api_error(response, 404, "not_found", "Not Found")
