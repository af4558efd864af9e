"""The built-in dictionary of common passwords, shipped in the package (never fetched).

``data/common-passwords.txt`` holds the 10,000 most common passwords, lower case; its
header and the repository's NOTICE say where they come from and under which licence.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["common_passwords"]

_FILE = "common-passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The words, lower case (read once per process, on first use)."""
    text = resources.files("passgate.support").joinpath("data", _FILE).read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )
