"""``passgate logs``: filters (--since, --ip, --user, --client, --q), details as JSON, --follow."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from passgate.domain.events import Event
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog
from tests import support
from tests.processes import server_env

HOUR = 3600.0


class Cli(support.Cli):
    @property
    def url(self) -> str:
        return str(self.runner.env["PASSGATE_DATABASE_URL"])


@pytest.fixture
def cli(tmp_path: Path, sql_url: str) -> Cli:
    """On SQLite and PostgreSQL."""
    return Cli(tmp_path / "data", env={"PASSGATE_DATABASE_URL": sql_url})


def write(url: str, *events: Event) -> None:
    engine = make_engine(url)
    try:
        EventLog(engine).append(list(events))
    finally:
        engine.dispose()


def types(found: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in found]


@pytest.fixture
def history(cli: Cli) -> Cli:
    """Three events: 3 days, 2 hours and 5 seconds old."""
    now = time.time()
    write(
        cli.url,
        Event("fepft", date=now - 3 * 86400, ip="203.0.113.5", user_name="alice@example.com",
              client_id="cid-shop", client_name="Web shop", details={"error": "wrong"}),
        Event("sepft", date=now - 2 * HOUR, ip="2001:db8::7", client_ip="10.0.0.2",
              user_id="auth0|u-bob", user_name="bob", client_id="cid-app", client_name="App"),
        Event("limit_wc", date=now - 5, ip="198.51.100.1", user_name="Alice@Example.com",
              client_id="cid-shop", client_name="Web shop"),
    )  # fmt: skip
    return cli


# -- --since --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("1h", ["limit_wc"]),
        ("3h", ["limit_wc", "sepft"]),
        ("90m", ["limit_wc"]),
        ("2d", ["limit_wc", "sepft"]),
        ("4d", ["limit_wc", "sepft", "fepft"]),
        ("1w", ["limit_wc", "sepft", "fepft"]),
        ("45s", ["limit_wc"]),
        ("45S", ["limit_wc"]),
    ],
)
def test_since_takes_a_duration(history: Cli, since: str, expected: list[str]) -> None:
    assert types(history.json("logs", "--since", since)) == expected


def test_since_takes_an_iso_date_or_time_in_utc(history: Cli) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime.fromtimestamp(time.time() - 2.5 * HOUR, UTC)
    naive = start.replace(tzinfo=None).isoformat(timespec="seconds")
    for value in (
        start.isoformat(),
        start.isoformat().replace("+00:00", "Z"),
        naive,  # no offset: UTC
        (start + timedelta(hours=2)).isoformat().replace("+00:00", "+02:00"),
    ):
        assert types(history.json("logs", "--since", value)) == ["limit_wc", "sepft"], value
    day = datetime.fromtimestamp(time.time() - 3 * 86400 - 60, UTC).date().isoformat()
    assert types(history.json("logs", "--since", day)) == ["limit_wc", "sepft", "fepft"]


@pytest.mark.parametrize("since", ["yesterday", "1y", "-1h", "h", "0x1h", "2024-13-01", ""])
def test_since_refuses_what_is_neither_a_time_nor_a_duration(history: Cli, since: str) -> None:
    result = history.run("logs", "--since", since)
    assert result.exit_code == 2
    assert "--since" in result.stderr
    assert "Traceback" not in result.output


# -- --ip, --user, --client -------------------------------------------------------------------


def test_ip_matches_the_end_user_or_the_connecting_ip_in_any_notation(
    history: Cli,
) -> None:
    assert types(history.json("logs", "--ip", "203.0.113.5")) == ["fepft"]
    assert types(history.json("logs", "--ip", "2001:DB8:0::7")) == ["sepft"]
    assert types(history.json("logs", "--ip", "::ffff:198.51.100.1")) == ["limit_wc"]
    assert types(history.json("logs", "--ip", "10.0.0.2")) == ["sepft"]
    assert history.json("logs", "--ip", "192.0.2.1") == []
    refused = history.run("logs", "--ip", "10.0.0")
    assert refused.exit_code == 2
    assert "not an IP address" in refused.stderr


def test_user_matches_the_user_id_or_the_name_in_any_letter_case(history: Cli) -> None:
    assert types(history.json("logs", "--user", "alice@example.com")) == ["limit_wc", "fepft"]
    assert types(history.json("logs", "--user", "ALICE@EXAMPLE.COM")) == ["limit_wc", "fepft"]
    assert types(history.json("logs", "--user", "auth0|u-bob")) == ["sepft"]
    assert types(history.json("logs", "--user", "Bob")) == ["sepft"]
    assert history.json("logs", "--user", "carol") == []


def test_client_matches_the_client_id_or_name(history: Cli) -> None:
    assert types(history.json("logs", "--client", "cid-shop")) == ["limit_wc", "fepft"]
    assert types(history.json("logs", "--client", "App")) == ["sepft"]
    assert history.json("logs", "--client", "cid") == []


def test_filters_combine(history: Cli) -> None:
    found = history.json(
        "logs", "--client", "Web shop", "--user", "alice@example.com", "--since", "1d"
    )
    assert types(found) == ["limit_wc"]
    assert history.json("logs", "--type", "fepft", "--since", "1h") == []


# -- --q: the Management API's search ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type:fepft OR type:limit_wc", ["limit_wc", "fepft"]),
        ("NOT type:fepft", ["limit_wc", "sepft"]),
        ("client_name:*shop", ["limit_wc", "fepft"]),
        ('client_name:"Web shop" AND user_name:alice*', ["fepft"]),  # case-sensitive
        ("ip:2001:DB8::7", ["sepft"]),
        ("details.error:wrong", ["fepft"]),
        ("user_id:*", ["sepft"]),
        ("date:[2000-01-01 TO *]", ["limit_wc", "sepft", "fepft"]),
        ("", ["limit_wc", "sepft", "fepft"]),
    ],
)
def test_q_searches_as_the_management_api_does(
    history: Cli, query: str, expected: list[str]
) -> None:
    assert types(history.json("logs", "--q", query)) == expected


def test_q_combines_with_the_other_filters(history: Cli) -> None:
    assert types(history.json("logs", "--q", "NOT type:sepft", "--client", "cid-shop")) == [
        "limit_wc", "fepft",
    ]  # fmt: skip
    assert types(history.json("logs", "--q", "type:fepft", "--since", "1d")) == []
    assert types(history.json("logs", "--q", "type:limit_wc", "--user", "alice@example.com")) == [
        "limit_wc",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type:", "expected a value after 'type:' (at character 6)"),
        ("foo:bar", "unknown field 'foo'"),
        ("user_name:*sa", "at least 3 other characters"),
    ],
)
def test_a_bad_q_says_where(history: Cli, query: str, message: str) -> None:
    result = history.run("logs", "--q", query)
    assert result.exit_code == 2
    assert "--q" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_readable_lines_print_the_details_as_json(history: Cli) -> None:
    lines = history.run("logs").stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["limit_wc", "sepft", "fepft"]
    details = lines[2][lines[2].index("{") :]
    assert json.loads(details) == {"error": "wrong"}
    assert "{" not in lines[0]


# -- --follow ------------------------------------------------------------------------------


class Follower:
    """``passgate logs --follow`` as a real process, its output read line by line."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "passgate"), "logs", "--follow", *args],
            env=server_env(cli.data_dir, PASSGATE_DATABASE_URL=cli.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.stdout: IO[str] = self.process.stdout
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.stdout:
            self.lines.put(line)

    def line(self, timeout: float = 30.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line from logs --follow within {timeout} s")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        status = self.process.wait(timeout=30)
        assert self.process.stderr is not None
        return status, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        self.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def followers() -> Iterator[list[Follower]]:
    started: list[Follower] = []
    yield started
    for follower in started:
        follower.kill()


def test_follow_prints_new_events_as_they_come_and_ctrl_c_exits_0(
    history: Cli, followers: list[Follower]
) -> None:
    follower = Follower(history, "--limit", "2", "--ip", "198.51.100.1", "--json")
    followers.append(follower)
    first = json.loads(follower.line())
    assert first["type"] == "limit_wc"

    write(
        history.url,
        Event("fepft", date=time.time(), ip="192.0.2.9"),  # filtered out
        Event("sepft", date=time.time(), ip="198.51.100.1", details={"n": 1}),
    )
    arrived = json.loads(follower.line())
    assert (arrived["type"], arrived["details"]) == ("sepft", {"n": 1})
    write(history.url, Event("fepft", date=time.time() - 1, ip="198.51.100.1"))
    assert json.loads(follower.line())["type"] == "fepft"  # a late write is not missed

    status, stderr = follower.stop()
    assert status == 0
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr


def test_follow_with_q_prints_only_what_the_search_finds(
    history: Cli, followers: list[Follower]
) -> None:
    follower = Follower(history, "--q", "type:s* AND NOT ip:192.0.2.9", "--json")
    followers.append(follower)
    assert json.loads(follower.line())["type"] == "sepft"
    write(
        history.url,
        Event("sepft", date=time.time(), ip="192.0.2.9"),
        Event("fepft", date=time.time(), ip="192.0.2.1"),
        Event("ss", date=time.time(), ip="192.0.2.1", details={"n": 2}),
    )
    arrived = json.loads(follower.line())
    assert (arrived["type"], arrived["details"]) == ("ss", {"n": 2})
    status, stderr = follower.stop()
    assert status == 0, stderr


def test_follow_prints_readable_lines_oldest_first(history: Cli, followers: list[Follower]) -> None:
    follower = Follower(history)
    followers.append(follower)
    assert [follower.line().split()[1] for _ in range(3)] == ["fepft", "sepft", "limit_wc"]
    write(history.url, Event("ss", date=time.time(), user_name="dave@example.com"))
    assert "user=dave@example.com" in follower.line()
    status, stderr = follower.stop()
    assert status == 0, stderr
