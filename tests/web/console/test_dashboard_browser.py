"""The Dashboard page in a real browser (Debian's chromium driven by Playwright) against a
real ``passgate serve``, on SQLite and on PostgreSQL + Redis: a scripted attack through
the token endpoint appears in the charts, the threat panel (with the threshold that set
it off), the top IPs and the most-targeted accounts, within the servers' rollup second;
the window switch works; the page reads well at 1280 and 390 px. Screenshots go to
``tmp/artifacts/console`` (``dashboard-attack-*``)."""

from __future__ import annotations

import pytest

from tests.processes import cli
from tests.web.console.test_browser import (  # noqa: F401 - served is a fixture
    NARROW,
    PASSWORD,
    WIDE,
    Served,
    _eventually,
    _follow,
    served,
)

pytestmark = pytest.mark.slow


def test_a_scripted_attack_appears_on_the_dashboard(served: Served) -> None:  # noqa: F811
    cli(served.env, "alerts", "set", "--credential-stuffing-failures", "10",
        "--credential-stuffing-accounts", "5")  # fmt: skip
    stuffer = served.next_ip()
    for n in range(12):
        answer = served.token(f"leaked{n}-{served.tag}@example.com", "guess", stuffer)
        assert answer.status_code == 403, answer.text
    victim = f"victim-{served.tag}@example.com"
    guesser = served.next_ip()
    for _ in range(3):
        assert served.token(victim, "wrong guess", guesser).status_code == 403

    context = served.context()
    page = context.new_page()
    served.login(page, served.admin, PASSWORD)

    def shown() -> bool:
        page.goto("/admin")
        text = page.inner_text("main")
        return stuffer in text and victim in text and "Failed logins\n15" in text

    _eventually(shown, "the attack is on the dashboard")
    main = page.locator("main")
    threat = main.locator("section.threat", has_text="Credential stuffing")
    assert "active" in threat.inner_text()
    assert "10 failed logins in an hour, and 5 accounts targeted in that hour" in (
        threat.inner_text()
    )
    assert main.locator("svg.chart").count() == 6
    failed = main.locator("figure", has_text="Failed logins")
    assert "15" in failed.locator("figcaption").inner_text()
    assert failed.locator("rect.bar").count() == 24
    ips = main.locator("section", has=page.get_by_role("heading", name="Top IP addresses"))
    first = ips.locator("tbody tr").first.inner_text()
    assert stuffer in first
    accounts = main.locator(
        "section", has=page.get_by_role("heading", name="Most-targeted accounts")
    )
    assert accounts.locator("tbody tr").first.inner_text().startswith(victim)
    served.shot(page, "dashboard-attack-wide")

    _follow(page, page.get_by_role("link", name="Last 7 days"))
    assert "window=7d" in page.url
    assert page.get_by_role("link", name="Last 7 days").get_attribute("aria-current") == "page"
    assert main.locator("svg.chart").first.locator("rect.bar").count() == 7
    assert stuffer in page.inner_text("main")
    served.shot(page, "dashboard-attack-7d")
    _follow(page, page.get_by_role("link", name="Last 30 days"))
    assert main.locator("svg.chart").first.locator("rect.bar").count() == 30
    context.close()

    narrow = served.context(viewport=NARROW)
    page = narrow.new_page()
    served.login(page, served.admin, PASSWORD)
    assert stuffer in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    served.shot(page, "dashboard-attack-narrow")
    narrow.close()
    assert WIDE["width"] == 1280
