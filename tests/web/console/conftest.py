"""A passgate built in process (SQLite, a manual clock, captured events) with an
administrator and a viewer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.protection_e2e.helpers import Stack, build_stack, settings_for, sqlite_url
from tests.web.console.helpers import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VIEWER_EMAIL,
    VIEWER_PASSWORD,
    add_admin,
)

StackFactory = Callable[..., Stack]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StackFactory]:
    built: list[Stack] = []
    url = sqlite_url(tmp_path)

    def factory(**overrides: Any) -> Stack:
        stack = build_stack(settings_for(tmp_path, url, **overrides), monkeypatch)
        built.append(stack)
        add_admin(stack, ADMIN_EMAIL, ADMIN_PASSWORD)
        add_admin(stack, VIEWER_EMAIL, VIEWER_PASSWORD, role="viewer")
        return stack

    try:
        yield factory
    finally:
        for stack in built:
            stack.passgate.close()


@pytest.fixture
def console(make_console: StackFactory) -> Stack:
    return make_console()
