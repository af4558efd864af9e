"""Helpers shared by in-process test suites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from passgate.settings import Settings


def cheap_settings(tmp_path: Path, sql_url: str, *, issuer: str, **overrides: Any) -> Settings:
    """Settings on ``sql_url`` with cheap password hashing, for tests."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": SecretStr(sql_url),
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "issuer": issuer,
        "hash_workers": 2,
    }
    values.update(overrides)
    return Settings(**values)
