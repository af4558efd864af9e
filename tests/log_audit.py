"""After the whole test run: no server log it wrote holds a token or a test password.

Every real server a test starts writes its stderr to a ``*.err`` file under pytest's base
temporary directory. :func:`audit` reads them all and looks for JSON Web Tokens (access and
ID tokens: no log line has a reason to hold one) and for the passwords that test modules
define (their module constants named ``*PASSWORD*``), so that a secret logged by any code
path any test reaches fails the run, not only the paths the log tests visit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["audit"]

#: A compact JWS whose header and payload are JSON objects.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
#: Passwords shorter than this are words that may appear in a log for other reasons.
MIN_PASSWORD = 12


def passwords_of_tests() -> set[str]:
    """The ``*PASSWORD*`` string constants of the test modules imported in this run."""
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("tests.") or module is None:
            continue
        for attribute, value in vars(module).items():
            if "PASSWORD" in attribute and isinstance(value, str) and len(value) >= MIN_PASSWORD:
                found.add(value)
    return found


def audit(base: Path) -> list[str]:
    """What is wrong, one line per file and finding (empty: nothing)."""
    passwords = passwords_of_tests()
    problems: list[str] = []
    for path in sorted(base.rglob("*.err")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if JWT.search(text):
            problems.append(f"{path}: a JSON Web Token")
        problems += [
            f"{path}: a test password ({len(p)} characters)" for p in passwords if p in text
        ]
    return problems
