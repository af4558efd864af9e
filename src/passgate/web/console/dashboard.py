"""``/admin``: the Dashboard, the console's first page: the attack dashboard of
``management.dashboard`` for the last 24 hours (per hour), 7 or 30 days (per UTC day).

Charts of each series drawn on the server as SVG (``web/console/charts``), the threat
panel with the thresholds that set each threat off, the top IPs, the most-targeted
accounts and the alerts sent; every number also in a table. Served from the hourly
aggregates the servers keep (never by scanning events).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.rollups import SERIES, WINDOWS
from passgate.management.dashboard import DEFAULT_WINDOW
from passgate.web.console.charts import bar_chart
from passgate.web.console.console import Console
from passgate.web.console.session import Visit

__all__ = ["SERIES_TITLES", "dashboard_routes"]

SERIES_TITLES = {
    "logins": "Successful logins",
    "failed_logins": "Failed logins",
    "brute_force_blocks": "Brute-force blocks",
    "ip_throttles": "IP throttles",
    "breached_passwords": "Breached-password hits",
    "signups": "Sign-ups",
}
WINDOW_TITLES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
THRESHOLD_WORDS = {
    "failed_logins_per_hour": "failed logins in an hour",
    "min_accounts": "accounts targeted in that hour",
    "signups_per_hour": "sign-up attempts in an hour",
    "hits_per_hour": "breached-password detections in an hour",
}
PEAK_WORDS = {
    "failed_logins": "failed logins",
    "failed_accounts": "accounts",
    "signup_attempts": "sign-up attempts",
    "breached_passwords": "detections",
}


def _label(start: str, bucket: str) -> str:
    """A bucket's short name without script: ``HH:00`` for hours (UTC; the script names
    them in the browser's time zone), ``MM-DD`` for days (UTC days, as they are counted)."""
    return start[11:16] if bucket == "hour" else start[5:10]


def charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per series: its title, total and SVG."""
    buckets = report["series"]
    labels = [_label(b["start"], report["bucket"]) for b in buckets]
    count = len(labels)
    ticks = (0, count // 2, count - 1) if count > 2 else ()
    drawn = []
    for series in SERIES:
        title = SERIES_TITLES[series]
        values = [int(b[series]) for b in buckets]
        svg: Markup = bar_chart(
            values,
            labels,
            title=f"{title} per {report['bucket']}, {WINDOW_TITLES[report['window']].lower()}",
            kind=series.replace("_", "-"),
            ticks=ticks,
            hours=[b["start"] for b in buckets] if report["bucket"] == "hour" else (),
        )
        drawn.append({"key": series, "title": title, "total": sum(values), "svg": svg})
    return drawn


def dashboard_routes(console: Console) -> list[Route]:
    service = console.services.dashboard

    async def dashboard(request: Request, visit: Visit) -> Response:
        window = request.query_params.get("window", DEFAULT_WINDOW)
        report = await console.run_io(service.report, window)
        context = {
            "title": "Dashboard",
            "current": "dashboard",
            "report": report,
            "charts": charts(report),
            "windows": [(name, WINDOW_TITLES[name]) for name in WINDOWS],
            "window_title": WINDOW_TITLES[report["window"]],
            "series_titles": SERIES_TITLES,
            "threshold_words": THRESHOLD_WORDS,
            "peak_words": PEAK_WORDS,
        }
        return console.render(request, visit, "dashboard.html", context)

    return [console.page("/admin", dashboard)]
