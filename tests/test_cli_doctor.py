"""``passgate doctor``: readable findings or ``--json``, and the exit status scripts read
(1 when an error or a warning is found, 0 otherwise, 2 for refused options)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from passgate.cli import doctor as doctor_command
from passgate.domain.doctor import MANY_USERS
from passgate.domain.events import Event
from passgate.management import doctor as doctor_service
from passgate.storage.db import make_engine
from passgate.storage.event_log import EventLog
from tests import support

SMTP_SECRET = "smtp-pa55word"
HEALTHY_ENV: dict[str, str | None] = {
    "PASSGATE_SMTP_URL": f"smtp://mailer:{SMTP_SECRET}@mx.example:587?starttls=true"
}


def healthy(tmp_path: Path) -> support.Cli:
    """A data directory set up right: SMTP, a breached index."""
    cli = support.Cli(tmp_path / "data", env=HEALTHY_ENV)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(hashlib.sha1(b"password").hexdigest().upper() + ":3\n")
    assert cli.run("breached", "import", str(corpus)).exit_code == 0
    return cli


def append(cli: support.Cli, *events: Event) -> None:
    engine = make_engine(f"sqlite:///{cli.data_dir / 'passgate.db'}")
    try:
        EventLog(engine).append(events)
    finally:
        engine.dispose()


def doctor_json(cli: support.Cli, *args: str) -> tuple[int, list[dict[str, Any]]]:
    result = cli.run("doctor", "--json", *args)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)["findings"]


def test_a_fresh_data_directory_needs_smtp_and_a_corpus(tmp_path: Path) -> None:
    cli = support.Cli(tmp_path / "data")
    result = cli.run("doctor")
    assert result.exit_code == 1, result.output
    assert "WARNING: breached_corpus_missing" in result.stdout
    assert "WARNING: smtp_unset" in result.stdout
    assert "  Fix: Set PASSGATE_SMTP_URL" in result.stdout
    assert result.stdout.rstrip().endswith("2 warnings")
    assert result.stderr.startswith("passgate: data directory ")

    status, found = doctor_json(cli)
    assert status == 1
    assert [f["code"] for f in found] == ["breached_corpus_missing", "smtp_unset"]
    assert all(set(f) == {"code", "severity", "message", "fix"} for f in found)


def test_a_correct_setup_reports_nothing_and_exits_0(tmp_path: Path) -> None:
    cli = healthy(tmp_path)
    result = cli.run("doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No problems found.\n"
    assert doctor_json(cli) == (0, [])
    assert SMTP_SECRET not in result.output


def test_info_findings_alone_exit_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = healthy(tmp_path)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"fileserver:/export {(tmp_path / 'data').resolve()} nfs4 rw 0 0\n")
    real = doctor_service.doctor_for

    def on_nfs(*args: Any, **kwargs: Any) -> doctor_service.Doctor:
        return real(*args, **{**kwargs, "mounts": mounts})

    monkeypatch.setattr(doctor_command, "doctor_for", on_nfs)
    result = cli.run("doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("info: sqlite_on_network_filesystem\n")
    assert result.stdout.rstrip().endswith("1 info")
    status, found = doctor_json(cli)
    assert (status, [f["severity"] for f in found]) == (0, ["info"])


def test_an_error_about_a_client_names_it_and_since_bounds_the_events(tmp_path: Path) -> None:
    cli = healthy(tmp_path)
    client = cli.json("clients", "create", "--name", "Shop", "--grant", "password")
    client_id = client["client_id"]
    now = time.time()
    append(
        cli,
        *(
            Event(
                type="sepft",
                date=now - 7200,
                ip="203.0.113.9",
                client_ip="203.0.113.9",
                client_id=client_id,
                client_name="Shop",
                user_id=f"auth0|{n}",
            )
            for n in range(MANY_USERS)
        ),
    )

    status, found = doctor_json(cli)
    assert status == 1
    (finding,) = found
    assert finding["code"] == "shared_ip_many_users"
    assert finding["severity"] == "error"
    assert finding["client_id"] == client_id
    assert list(finding) == ["code", "severity", "client_id", "message", "fix"]
    text = cli.run("doctor").stdout
    assert text.startswith(f"ERROR: shared_ip_many_users [{client_id}]\n")
    assert text.rstrip().endswith("1 error")

    assert doctor_json(cli, "--since", "1h") == (0, [])
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 3600))
    assert doctor_json(cli, "--since", iso)[0] == 1


@pytest.mark.parametrize("since", ["yesterday", "-1d", "1y", ""])
def test_a_bad_since_is_refused_with_status_2(tmp_path: Path, since: str) -> None:
    cli = support.Cli(tmp_path / "data")
    result = cli.run("doctor", "--since", since)
    assert result.exit_code == 2, result.output
    assert "--since" in result.stderr
    assert "Traceback" not in result.output
