"""passgate breached import | stats | check, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from passgate.breached.cli import breached
from passgate.breached.index import BreachedIndex
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
    assert "entries: 3" in human.stdout


def test_stats_without_an_index_says_how_to_make_one(index_path: Path) -> None:
    result = CliRunner().invoke(breached, ["stats"])
    assert result.exit_code == 1
    assert "passgate breached import" in result.stderr
    assert "Traceback" not in result.output


def test_check_reads_the_password_from_stdin(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    runner = CliRunner()
    result = runner.invoke(breached, ["check", "--password-stdin", "--json"], input="hunter2\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"breached": True, "count": 17, "source": "local"}
    result = runner.invoke(breached, ["check", "--password-stdin"], input="not leaked 9x\r\n")
    assert result.stdout.strip() == "not found in the breached-password corpus"
    result = runner.invoke(breached, ["check", "--password-stdin"], input="\n")
    assert result.exit_code == 1
    assert "no password on stdin" in result.stderr


def test_check_prompts_without_echoing(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    result = CliRunner().invoke(breached, ["check"], input="password\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "password\n" not in result.output.lower().replace("password:", "")
    assert "breached: seen about 3," in result.stdout


def test_check_never_takes_the_password_from_argv(tmp_path: Path, index_path: Path) -> None:
    _import(tmp_path)
    for argv in (["check", "hunter2"], ["check", "--password-stdin", "hunter2"]):
        result = CliRunner().invoke(breached, argv, input="")
        assert result.exit_code == 1
        assert "--password-stdin" in result.stderr
        assert "hunter2" not in result.output
    result = CliRunner().invoke(breached, ["check", "--password=hunter2"], input="")
    assert result.exit_code != 0
    assert "hunter2" not in result.output


def test_check_without_an_index(index_path: Path) -> None:
    result = CliRunner().invoke(breached, ["check", "--password-stdin"], input="x\n")
    assert result.exit_code == 1
    assert "passgate breached import" in result.stderr
