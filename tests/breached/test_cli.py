"""passgate breached import | stats | check, through click's CliRunner."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from passgate.breached.index import BreachedIndex
from passgate.cli.breached import breached
from tests.breached.helpers import hash_lines, sha1_digest, write_lines

CORPUS = {"password": 3_861_493, "hunter2": 17, "rare-one": 1}


@pytest.fixture
def index_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PASSGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PASSGATE_BREACHED_INDEX", raising=False)
    monkeypatch.delenv("PASSGATE_BREACHED_RANGE_URL", raising=False)
    return tmp_path / "data" / "breached.idx"


def _import(tmp_path: Path, *args: str) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    result = CliRunner().invoke(breached, ["import", str(source), *args])
    assert result.exit_code == 0, result.output


def test_import_writes_the_index_named_by_the_settings(tmp_path: Path, index_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    result = CliRunner().invoke(breached, ["import", str(source), "--min-count", "2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["entries"] == 2
    assert figures["dropped_below_min_count"] == 1
    with BreachedIndex.open(index_path) as index:
        assert index.count(sha1_digest("hunter2")) == 17
        assert index.count(sha1_digest("rare-one")) is None


def test_import_to_an_explicit_index_with_range(tmp_path: Path, index_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    other = tmp_path / "elsewhere.idx"
    result = CliRunner().invoke(
        breached, ["import", str(source), "--index", str(other), "--with-range", "--format", "sha1"]
    )
    assert result.exit_code == 0, result.output
    assert "3 hashes" in result.stdout
    assert "range data: 3 hashes" in result.stdout
    assert not index_path.exists()
    with BreachedIndex.open(other) as index:
        assert index.has_range


def test_bad_input_is_one_line_on_stderr_and_exit_1(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    before = index_path.read_bytes()
    bad = write_lines(tmp_path / "bad.txt", ["8846F7EAEE8FB117AD06BDD830B7586C:42"])
    result = CliRunner().invoke(breached, ["import", str(bad)])
    assert result.exit_code == 1
    assert "bad.txt:1: NTLM" in result.stderr
    assert "previous index is unchanged" in result.stderr
    assert "Traceback" not in result.output
    assert index_path.read_bytes() == before


def test_stats(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    result = CliRunner().invoke(breached, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["entries"] == 3
    assert stats["bytes"] == 64 + 27
    assert stats["range"] == "absent"
    human = CliRunner().invoke(breached, ["stats"])
    assert "3 entries (hashes seen at least once)" in human.stdout


def test_stats_without_an_index_says_how_to_make_one(index_path: Path) -> None:
    result = CliRunner().invoke(breached, ["stats"])
    assert result.exit_code == 1
    assert "passgate breached import" in result.stderr
    assert "Traceback" not in result.output


def test_check_reads_the_password_from_stdin(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    runner = CliRunner()
    result = runner.invoke(breached, ["check", "--password-stdin", "--json"], input="hunter2\n")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {"breached": True, "count": 17, "source": "local"}
    result = runner.invoke(breached, ["check", "--password-stdin"], input="not leaked 9x\r\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "not found in the breached-password corpus"
    result = runner.invoke(breached, ["check", "--password-stdin"], input="\n")
    assert result.exit_code == 2
    assert "no password on stdin" in result.stderr


def test_check_prompts_without_echoing(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    result = CliRunner().invoke(breached, ["check"], input="password\n")
    assert result.exit_code == 1, result.output
    assert "Password" in result.stderr
    assert "password\n" not in result.output.lower().replace("password:", "")
    assert "breached: seen about 3," in result.stdout


def test_check_never_takes_the_password_from_argv(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    for argv in (["check", "hunter2"], ["check", "--password-stdin", "hunter2"]):
        result = CliRunner().invoke(breached, argv, input="")
        assert result.exit_code == 2
        assert "--password-stdin" in result.stderr
        assert "hunter2" not in result.output
    result = CliRunner().invoke(breached, ["check", "--password=hunter2"], input="")
    assert result.exit_code != 0
    assert "hunter2" not in result.output


def test_check_without_an_index(index_path: Path) -> None:
    result = CliRunner().invoke(breached, ["check", "--password-stdin"], input="x\n")
    assert result.exit_code == 2
    assert "passgate breached import" in result.stderr


# -- exit status, dates and plurals, progress --------------------------------------------


@pytest.mark.parametrize(
    ("password", "status"),
    [("hunter2", 1), ("rare-one", 1), ("AUTH0-TEST-anything", 1), ("never seen 7q", 0)],
)
def test_check_exits_1_when_breached_and_0_when_not(
    tmp_path: Path, index_path: Path, password: str, status: int
) -> None:
    _import(tmp_path)
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(
            breached, ["check", "--password-stdin", *extra], input=password + "\n"
        )
        assert result.exit_code == status, result.output
        assert "Error" not in result.output


def test_check_exits_2_on_errors(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    runner = CliRunner()
    missing = tmp_path / "missing.idx"
    cases = [
        (["check", "--password-stdin"], ""),  # no password at all
        (["check", "--password-stdin"], "\n"),  # an empty one
        (["check"], ""),  # the prompt gets end of file
        (["check", "--password-stdin", "--index", str(missing)], "hunter2\n"),
        (["check", "--password-stdin", "--min-count", "0"], "hunter2\n"),
        (["check", "hunter2"], ""),
    ]
    for argv, given in cases:
        result = runner.invoke(breached, argv, input=given)
        assert result.exit_code == 2, (argv, result.output)
        assert "Traceback" not in result.output
        assert "hunter2" not in result.output
    bad = runner.invoke(
        breached, ["check", "--password-stdin"], input="hunter2\n", env={"PASSGATE_ISSUER": "x"}
    )
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: PASSGATE_ISSUER: ")


def test_stats_shows_dates_in_iso_8601_utc_and_plural_forms(
    tmp_path: Path, index_path: Path
) -> None:
    source = write_lines(tmp_path / "one.txt", hash_lines({"hunter2": 17}))
    assert CliRunner().invoke(breached, ["import", str(source)]).exit_code == 0
    human = CliRunner().invoke(breached, ["stats"])
    assert human.exit_code == 0, human.output
    assert re.search(r"^created:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", human.stdout, re.M)
    assert re.search(r"^entries:\s+1 entry \(hashes seen at least once\)$", human.stdout, re.M)
    assert "1 entries" not in human.stdout
    shown = json.loads(CliRunner().invoke(breached, ["stats", "--json"]).stdout)
    assert shown["created"].endswith("Z")
    assert datetime.fromisoformat(shown["created"]).tzinfo is not None

    _import(tmp_path, "--min-count", "2", "--with-range")
    human = CliRunner().invoke(breached, ["stats"])
    assert re.search(r"^entries:\s+2 entries \(hashes seen at least 2 times\)$", human.stdout, re.M)
    assert re.search(r"^range data:\s+2 entries, [\d,]+ bytes$", human.stdout, re.M)


def test_import_says_one_hash_not_one_hashes(tmp_path: Path, index_path: Path) -> None:
    source = write_lines(tmp_path / "one.txt", hash_lines({"hunter2": 17}))
    result = CliRunner().invoke(breached, ["import", str(source)])
    assert result.stdout.startswith("1 hash in ")
    assert "(1 hash read," in result.stdout


def _import_on_a_terminal(tmp_path: Path, *args: str) -> tuple[int, str]:
    """``passgate breached import`` with stdout and stderr on a pseudo-terminal."""
    source = write_lines(
        tmp_path / "big.txt", hash_lines({f"password {n}": n + 1 for n in range(5000)})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSGATE_")}
    env.update(PASSGATE_DATA_DIR=str(tmp_path / "data"), TERM="xterm", COLUMNS="100")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "passgate"), "breached", "import", str(source), *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_import_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    status, output = _import_on_a_terminal(tmp_path)
    assert status == 0, output
    assert "reading the corpus" in output
    assert "writing the index" in output
    assert "100%" in output
    assert "5,000 hashes in " in output


def test_import_stays_quiet_with_json_even_on_a_terminal(tmp_path: Path) -> None:
    status, output = _import_on_a_terminal(tmp_path, "--json")
    assert status == 0, output
    assert "reading the corpus" not in output
    assert json.loads(output)["entries"] == 5000


def test_import_stays_quiet_when_not_on_a_terminal(tmp_path: Path, index_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "passgate"), "breached", "import", str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "TERM": "xterm"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("3 hashes in ")
