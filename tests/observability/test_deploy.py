"""The alert rules and the Grafana dashboard in ``deploy/``: valid for promtool, and naming
only metrics passgate has."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from passgate.observability.metrics import Metrics
from tests.browser import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus-rules.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
PROMTOOL = "/usr/bin/promtool"


@pytest.fixture(scope="module")
def promtool() -> str:
    if not os.access(PROMTOOL, os.X_OK):
        require_tool(PROMTOOL, "prometheus")
    return PROMTOOL


def exposed_names() -> set[str]:
    metrics = Metrics()
    metrics.observe_token("password", "success", 0.1)
    metrics.observe_hash("verify", 0.02)
    metrics.count_event("sepft", "c")
    metrics.count_management("GET", 200)
    metrics.set_backend_state("sql", "ok")
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_promtool_checks_the_alert_rules(promtool: str) -> None:
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_dashboards_queries_parse(promtool: str, tmp_path: Path) -> None:
    """Each panel query, with Grafana's variables filled in, as a recording rule."""
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for number, expr in enumerate(dashboard_exprs()):
        filled = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        rules += [f"      - record: dashboard:query{number}", f"        expr: {json.dumps(filled)}"]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text("\n".join(rules) + "\n")
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_and_dashboard_name_only_passgate_metrics() -> None:
    known = exposed_names()
    used = set(re.findall(r"passgate_\w+", RULES.read_text() + "\n".join(dashboard_exprs())))
    assert used, "no passgate_ metric referenced"
    assert used <= known, sorted(used - known)
    names = {name for name in known if name.startswith("passgate_")}
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in names}
    unused = {f for f in families if not any(u.startswith(f) for u in used)}
    assert unused == set(), f"metrics on no panel nor rule: {sorted(unused)}"
