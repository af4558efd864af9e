"""Shared helpers for tests in a real browser: Debian's chromium driven by Playwright
(never a downloaded browser), and the screenshots those tests save.

A missing chromium skips the test with its reason, except under
``PASSGATE_TEST_REQUIRE_BACKENDS=1`` (CI, which installs it), where it fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Shots",
    "launch_chromium",
    "require_chromium",
]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PASSGATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where browser tests save screenshots (ignored by git; a few are copied to docs/).
ARTIFACTS = Path(os.environ.get("PASSGATE_TEST_ARTIFACTS", REPO / "tmp" / "artifacts"))


def require_chromium() -> None:
    """Skip (or in CI fail) the test when chromium or Playwright is missing."""
    pytest.importorskip("playwright.sync_api")
    require_tool(CHROMIUM, "chromium")


def require_tool(path: str, package: str) -> None:
    """Skip (or in CI fail) the test when the program at ``path`` is missing."""
    if not os.access(path, os.X_OK):
        message = f"{path} not found (apt-get install {package}; scripts/bootstrap does)"
        if os.environ.get("PASSGATE_TEST_REQUIRE_BACKENDS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless chromium (Playwright's ``Browser``), closed on the way out."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Full-page screenshots under ``ARTIFACTS/<folder>``."""

    def __init__(self, folder: str) -> None:
        self.folder = ARTIFACTS / folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
