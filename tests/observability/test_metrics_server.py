"""``/metrics`` of real ``passgate serve`` processes: added up across workers, valid for
``promtool check metrics``, scraped by a real Prometheus server, its directory cleaned.

Debian's ``prometheus`` package (``/usr/bin/prometheus``, ``/usr/bin/promtool``) is what
CI installs (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import require_tool
from tests.processes import free_port
from tests.protection_e2e.servers import Server, cli, running, server_env

pytestmark = pytest.mark.slow

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
TOKEN = "metrics-" + secrets.token_urlsafe(24)
PASSWORD = "a long and private passphrase"


def _need(tool: str) -> None:
    if not os.access(tool, os.X_OK):
        require_tool(tool, "prometheus")


def setup_login(env: dict[str, str]) -> dict[str, str]:
    client = cli(env, "clients", "create", "--name", "Shop", "--grant", "password")
    cli(env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n")  # fmt: skip
    return {
        "grant_type": "password",
        "username": "alice@example.com",
        "password": PASSWORD,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }


def scrape(url: str, token: str = TOKEN) -> str:
    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return answer.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in the text format (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if series.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def metrics_dir(server: Server) -> Path:
    (found,) = Path(tempfile.gettempdir()).glob(f"passgate-metrics-{server.process.pid}-*")
    return found


def pids_with(directory: Path, prefix: str) -> set[int]:
    return {
        int(m.group(1))
        for p in directory.iterdir()
        if (m := re.fullmatch(rf"{prefix}_(\d+)\.db", p.name)) is not None
    }


def test_two_workers_add_up_and_promtool_accepts_the_output(tmp_path: Path) -> None:
    _need(PROMTOOL)
    env = server_env(tmp_path / "data", PASSGATE_METRICS="on", PASSGATE_METRICS_TOKEN=TOKEN)
    form = setup_login(env)
    with running(env, tmp_path, workers=2) as (server,):
        directory = metrics_dir(server)
        logins = 0

        def login(_: int) -> int:
            with httpx.Client(base_url=server.url, timeout=30.0) as http:  # a new connection
                return http.post("oauth/token", data=form).status_code

        # Concurrent connections until both workers have counted some (the kernel picks).
        with ThreadPoolExecutor(8) as pool:
            while len(pids_with(directory, "counter")) < 2 and logins < 400:
                assert set(pool.map(login, range(16))) == {200}
                logins += 16
        assert len(pids_with(directory, "counter")) == 2, "one worker served every login"
        wrong = {**form, "password": "not it"}
        assert httpx.post(server.url + "oauth/token", data=wrong).status_code == 403

        for _ in range(6):  # whichever worker answers, the totals are the server's
            text = scrape(server.url + "metrics")
            assert sample(text, "passgate_events_total", type="sepft") == logins
            assert sample(text, "passgate_events_total", type="fepft") == 1
            assert sample(
                text, "passgate_token_request_duration_seconds_count",
                grant="password", outcome="success",
            ) == logins  # fmt: skip
            assert (
                sample(
                    text, "passgate_token_request_duration_seconds_count", outcome="invalid_grant"
                )
                == 1
            )
            assert sample(text, "passgate_password_hash_duration_seconds_count") >= logins + 1

        checked = subprocess.run(
            [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout + checked.stderr == ""
        time.sleep(1.5)  # a sampling round
        text = scrape(server.url + "metrics")
        assert sample(text, "passgate_protection_backend_state", backend="sql", state="ok") == 1
        for gauge in ("passgate_hash_queue_depth", "passgate_event_writer_backlog"):
            assert f"\n{gauge} " in text
        assert httpx.get(server.url + "metrics").status_code == 401
    assert not directory.exists(), "the server removes its metrics directory when it stops"


def test_a_dead_workers_gauges_go_and_its_counts_stay(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", PASSGATE_METRICS="on", PASSGATE_METRICS_TOKEN=TOKEN)
    form = setup_login(env)
    with running(env, tmp_path, workers=2) as (server,):
        directory = metrics_dir(server)
        for _ in range(10):
            assert httpx.post(server.url + "oauth/token", data=form).status_code == 200
        time.sleep(1.5)
        workers = pids_with(directory, "gauge_livesum")
        assert len(workers) == 2
        victim = min(pids_with(directory, "counter") & workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(pids_with(directory, "gauge_livesum") - {victim}) < 2:
            assert time.monotonic() < deadline, "uvicorn did not replace the killed worker"
            time.sleep(0.2)
        text = scrape(server.url + "metrics")
        assert victim not in pids_with(directory, "gauge_livesum")
        assert sample(text, "passgate_events_total", type="sepft") == 10


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str, token: str) -> Iterator[str]:
    """A Prometheus server scraping ``target`` (host:port) every second; its URL."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: passgate\n"
        "    authorization:\n"
        f"      credentials: {token}\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "-/ready", timeout=1.0).status_code == 200:
                    break
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp_path / "tsdb", ignore_errors=True)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(url + "api/v1/query", params={"query": promql}, timeout=5.0).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_a_real_prometheus_scrapes_the_metrics_port(tmp_path: Path) -> None:
    """PASSGATE_METRICS_PORT: /metrics on its own listener (with the token), not on the
    main port; Prometheus scrapes it and answers a query on a passgate_ metric."""
    _need(PROMETHEUS)
    metrics_port = free_port()
    env = server_env(
        tmp_path / "data",
        PASSGATE_METRICS="on",
        PASSGATE_METRICS_TOKEN=TOKEN,
        PASSGATE_METRICS_PORT=str(metrics_port),
    )
    form = setup_login(env)
    with running(env, tmp_path, workers=2) as (server,):
        for _ in range(3):
            assert httpx.post(server.url + "oauth/token", data=form).status_code == 200
        assert httpx.get(server.url + "metrics").status_code == 404
        own = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(own).status_code == 401
        assert httpx.get(own, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert sample(scrape(own), "passgate_events_total", type="sepft") == 3
        with prometheus(tmp_path, f"127.0.0.1:{metrics_port}", TOKEN) as url:
            deadline = time.monotonic() + 60
            promql = 'sum(passgate_events_total{type="sepft"})'
            while not (found := query(url, promql)):
                assert time.monotonic() < deadline, query(url, "up")
                time.sleep(0.5)
            assert float(found[0]["value"][1]) == 3
            (up,) = query(url, 'up{job="passgate"}')
            assert up["value"][1] == "1"
