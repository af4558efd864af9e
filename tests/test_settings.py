"""Settings from the environment: every refusal names the ``PASSGATE_…`` variable and what
it expects in one line, never a secret; and ``docs/settings.md`` is generated from the model.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

from passgate.errors import ConfigurationError
from passgate.settings import Settings, read_settings
from passgate.support import settings_doc

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "settings.md"
SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PASSGATE_* setting from outside the test."""
    import os

    for name in list(os.environ):
        if name.startswith("PASSGATE_"):
            monkeypatch.delenv(name)


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> list[str]:
    """The lines of the refusal of ``variables``."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        read_settings()
    return str(raised.value).splitlines()


BAD_SETTINGS = [
    ("PASSGATE_DATABASE_URL", "nonsense", "postgresql://"),
    ("PASSGATE_DATABASE_URL", f"mysql://u:{SECRET}@db.example/passgate", "unsupported"),
    ("PASSGATE_DATABASE_URL", f"postgresql://u:{SECRET}@db.example:port/passgate", "postgresql://"),
    ("PASSGATE_DATABASE_URL", f"u:{SECRET}@db.example/passgate", "postgresql://"),
    ("PASSGATE_DATABASE_URL", "sqlite://", "file"),
    ("PASSGATE_DATABASE_URL", "sqlite:///:memory:", "file"),
    ("PASSGATE_DATABASE_URL", "", "postgresql://"),
    ("PASSGATE_REDIS_URL", f"http://u:{SECRET}@cache.example", "redis://"),
    ("PASSGATE_REDIS_URL", f"redis://:{SECRET}@cache.example:port/0", "redis://"),
    ("PASSGATE_REDIS_URL", f"redis://:{SECRET}@cache.example/zero", "database number"),
    ("PASSGATE_REDIS_URL", "redis://", "host"),
    ("PASSGATE_REDIS_URL", f"redis://:{SECRET}@h/0?socket_timeout=soon", "redis://"),
    ("PASSGATE_SMTP_URL", "nope", "smtp://"),
    ("PASSGATE_SMTP_URL", f"smtp://mailer:{SECRET}@mx.example", "clear text"),
    ("PASSGATE_SMTP_URL", f"smtps://mailer:{SECRET}@mx.example?starttls=maybe", "starttls"),
    ("PASSGATE_ISSUER", "not-a-url", "http"),
    ("PASSGATE_ISSUER", "ftp://id.example/", "http"),
    ("PASSGATE_ISSUER", "https://id.example/?tenant=1", "query"),
    ("PASSGATE_ISSUER", "https://id.example/#top", "fragment"),
    ("PASSGATE_ISSUER", "https:///", "host"),
    ("PASSGATE_ISSUER", "https://id.example:99999/", "port"),
    ("PASSGATE_PUBLIC_URL", "id.example", "http"),
    ("PASSGATE_BREACHED_RANGE_URL", "range.example/range/", "http"),
    ("PASSGATE_MAIL_FROM", "nobody", "address"),
    ("PASSGATE_MAIL_FROM", "a@example.com\r\nBcc: victim@example.com", "address"),
    ("PASSGATE_LOG_LEVEL", "loud", "debug"),
    ("PASSGATE_TRUSTED_PROXIES", "10.0.0.1, 1.2.3", "1.2.3"),
    ("PASSGATE_HASH_WORKERS", "x", "1 to 64"),
    ("PASSGATE_HASH_WORKERS", "0", "1 to 64"),
    ("PASSGATE_HASH_WORKERS", "65", "1 to 64"),
    ("PASSGATE_HASH_WORKERS", "2.5", "1 to 64"),
    ("PASSGATE_ARGON2_TIME_COST", "0", "1 to 100"),
    ("PASSGATE_MAX_BODY_BYTES", "1", "1024 to 1048576"),
    ("PASSGATE_BREACHED_RANGE_TIMEOUT", "0", "greater than 0"),
    ("PASSGATE_PURGE_INTERVAL_S", "soon", "number"),
    ("PASSGATE_REDIS_UNAVAILABLE", "maybe", "refuse, fallback"),
    ("PASSGATE_BREACHED_UPSTREAM_UNAVAILABLE", "REFUSE!", "refuse, allow"),
    ("PASSGATE_LOGIN_RATE_LIMIT", "maybe", "true or false"),
    ("PASSGATE_SERVER_TIMING", "", "true or false"),
]


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_naming_the_variable_and_what_it_expects(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    lines = refusal(monkeypatch, **{variable: value})
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{variable}: ")
    assert expected in lines[0]
    assert "expected" in lines[0]
    assert SECRET not in lines[0]
    assert "pydantic" not in lines[0]
    assert "Traceback" not in lines[0]


def test_secret_settings_never_show_their_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PASSGATE_DATABASE_URL", "PASSGATE_REDIS_URL", "PASSGATE_SMTP_URL"):
        (line,) = refusal(monkeypatch, **{variable: f"{SECRET}://{SECRET}:{SECRET}@"})
        monkeypatch.delenv(variable)
        assert SECRET not in line


def test_settings_are_read_case_insensitively_and_levels_folded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSGATE_LOG_LEVEL", "WARNING")
    assert read_settings().log_level == "warning"


def test_each_bad_setting_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = refusal(
        monkeypatch,
        PASSGATE_HASH_WORKERS="many",
        PASSGATE_ISSUER="not-a-url",
        PASSGATE_DATABASE_URL=f"mysql://u:{SECRET}@h/db",
    )
    assert sorted(line.split(":")[0] for line in lines) == [
        "PASSGATE_DATABASE_URL",
        "PASSGATE_HASH_WORKERS",
        "PASSGATE_ISSUER",
    ]


def test_a_long_value_is_shortened_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = refusal(monkeypatch, PASSGATE_HASH_WORKERS="9" * 5000)
    assert len(line) < 300


def _invalid_value(annotation: object) -> str | None:
    """A value the type refuses, for fields whose type says enough."""
    if annotation is int or annotation == int | None:
        return "not-a-number"
    if annotation is float:
        return "not-a-number"
    if annotation is bool:
        return "perhaps"
    if typing.get_origin(annotation) is typing.Literal:
        return "none-of-these"
    return None


TYPED_SETTINGS = sorted(
    (name, value)
    for name, field in Settings.model_fields.items()
    if (value := _invalid_value(field.annotation)) is not None
)


@pytest.mark.parametrize(("name", "value"), TYPED_SETTINGS)
def test_every_typed_setting_refuses_a_bad_value_by_its_variable_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    variable = f"PASSGATE_{name.upper()}"
    (line,) = refusal(monkeypatch, **{variable: value})
    assert line.startswith(f"{variable}: ")
    assert "expected " in line


def test_good_urls_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in [
        ("PASSGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        ("PASSGATE_DATABASE_URL", "postgres://u:p@db.example/passgate"),
        ("PASSGATE_DATABASE_URL", "postgresql:///passgate"),
        ("PASSGATE_DATABASE_URL", "sqlite:////var/lib/passgate/passgate.db"),
        ("PASSGATE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ("PASSGATE_REDIS_URL", "rediss://:p@cache.example:6380"),
        ("PASSGATE_REDIS_URL", "unix:///run/redis.sock"),
        ("PASSGATE_SMTP_URL", "smtps://u:p@mx.example:465?timeout=5"),
        ("PASSGATE_ISSUER", "https://id.example.com/"),
        ("PASSGATE_ISSUER", "http://[::1]:8000"),
        ("PASSGATE_PUBLIC_URL", "https://id.example.com/auth"),
        ("PASSGATE_MAIL_FROM", "Passgate <no-reply@example.com>"),
    ]:
        monkeypatch.setenv(variable, value)
        read_settings()
        monkeypatch.delenv(variable)


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="issuer"):
        Settings(issuer="not-a-url")
    assert Settings(database_url=SecretStr("postgres://h/db")).database_url is not None


# -- the settings reference ----------------------------------------------------------------


def test_every_setting_has_a_description() -> None:
    undescribed = [
        name for name, field in Settings.model_fields.items() if not (field.description or "")
    ]
    assert undescribed == []


def test_the_settings_reference_names_every_variable_with_its_meaning() -> None:
    text = settings_doc.render(Settings)
    for name, field in Settings.model_fields.items():
        assert f"`PASSGATE_{name.upper()}`" in text
        assert field.description is not None
        assert field.description.split("\n")[0][:40] in text
    assert "number of CPU cores" in text  # not this machine's count
    assert "PASSGATE_LOG_LEVEL" in text
    assert "PASSGATE_MAIL_FROM" in text


def test_docs_settings_md_is_up_to_date_with_the_settings_model() -> None:
    """Regenerate with ``python -m passgate.settings`` after changing a setting."""
    expected = settings_doc.render(Settings)
    current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    assert current == expected, (
        "docs/settings.md is out of date with src/passgate/settings.py; "
        "regenerate it with: .venv/bin/python -m passgate.settings"
    )


def test_the_generator_writes_the_file_and_check_mode_reports_drift(tmp_path: Path) -> None:
    target = tmp_path / "settings.md"
    command = [sys.executable, "-m", "passgate.settings"]
    check = subprocess.run([*command, "--check", str(target)], capture_output=True, text=True)
    assert check.returncode == 1
    assert "python -m passgate.settings" in check.stderr
    written = subprocess.run([*command, str(target)], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert target.read_text(encoding="utf-8") == settings_doc.render(Settings)
    check = subprocess.run([*command, "--check", str(target)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_readme_links_the_settings_reference() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "docs/settings.md" in configuration
