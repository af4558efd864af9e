"""The console's Dashboard page (``/admin``), in process: a scripted attack through the
token endpoint shows in the charts (server-drawn SVG), the threat panel, the top IPs and
the most-targeted accounts, for each window; names are escaped; a viewer sees it too."""

from __future__ import annotations

import re

import pytest

from passgate.protection.alerts import SECURITY_ALERTS_KEY
from passgate.web.console.charts import bar_chart, nice_ceiling
from tests.protection_e2e.helpers import Stack
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    browser,
)

pytestmark = pytest.mark.anyio

ATTACKER = "203.0.113.66"


async def attack(stack: Stack, accounts: int) -> None:
    """Wrong passwords for ``accounts`` accounts from one forwarded IP; then the events
    are written and rolled up, as a server's background threads do."""
    async with stack.http() as http:
        for n in range(accounts):
            answer = await stack.login(http, f"target{n}@example.com", "guess", forwarded=ATTACKER)
            assert answer.status_code in (403, 429), answer.text
    stack.passgate.event_log.append(stack.events.events)
    stack.events.clear()
    stack.passgate.alerts.tick()


async def test_an_attack_shows_in_charts_threats_and_top_lists(console: Stack) -> None:
    console.passgate.tenant.set(
        SECURITY_ALERTS_KEY, {"credential_stuffing": {"failed_logins_per_hour": 10,
                                                       "min_accounts": 5}}
    )  # fmt: skip
    console.passgate.policies.store.invalidate()
    await attack(console, 12)
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        page = await client.http.get("/admin")
        assert page.status_code == 200, page.text
        html = page.text
        assert html.count('<svg class="chart"') == 6
        assert "<script>" not in html
        assert "style=" not in html
        assert re.search(r"Failed logins</span> <strong>12</strong>", html)
        assert ": 12</title>" in html  # the bar of this hour
        assert ATTACKER in html
        assert "target0@example.com" in html
        assert "Credential stuffing" in html
        assert "12 failed logins against 12 accounts" in html
        assert "10 failed logins in an hour, and 5 accounts targeted in that hour" in html
        assert 'aria-current="page">Last 24 hours' in html
        for window, label in (("7d", "Last 7 days"), ("30d", "Last 30 days")):
            other = await client.http.get("/admin", params={"window": window})
            assert other.status_code == 200
            assert f'aria-current="page">{label}' in other.text
            assert ATTACKER in other.text
        bad = await client.http.get("/admin", params={"window": "1y"})
        assert bad.status_code == 400
        assert "window must be one of" in bad.text


async def test_names_from_requests_are_escaped(console: Stack) -> None:
    async with console.http() as http:
        await console.login(http, "<script>alert(1)</script>@x.example", "guess",
                            forwarded="198.51.100.7")  # fmt: skip
    console.passgate.event_log.append(console.events.events)
    console.passgate.alerts.tick()
    client = browser(console)
    async with client.http:
        await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        html = (await client.http.get("/admin")).text
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@x.example" in html


async def test_a_viewer_sees_the_dashboard(console: Stack) -> None:
    client = browser(console)
    async with client.http:
        await client.login(VIEWER_EMAIL, VIEWER_PASSWORD)
        page = await client.http.get("/admin")
    assert page.status_code == 200
    assert "No account was targeted in this window." in page.text


def test_the_chart_escapes_labels_and_scales_to_a_round_top() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 99, 120, 4000)] == [
        1, 1, 5, 10, 10, 20, 100, 200, 5000,
    ]  # fmt: skip
    svg = bar_chart([0, 5, 10], ["<a>", "b", "c"], title='"x" & y', kind="logins")
    assert "&lt;a&gt;: 0" in svg
    assert 'aria-label="&#34;x&#34; &amp; y"' in svg
    assert svg.count("<rect") == 3
    assert 'height="0.0"' in svg  # an empty bucket has no bar
    assert "data-hour" not in svg
    hours = ["2026-12-05T22:00:00.000Z", "2026-12-05T23:00:00.000Z", '"><x>']
    timed = bar_chart([0, 5, 10], ["22:00", "23:00", "00:00"], title="t", kind="logins",
                      hours=hours)  # fmt: skip
    assert '<title data-hour="2026-12-05T22:00:00.000Z" data-rest=": 0">22:00: 0</title>' in timed
    assert 'data-hour="&#34;&gt;&lt;x&gt;"' in timed  # escaped like every value
    assert timed.count('<text class="tick" x') == 4  # 0, top, and the first and last hour
