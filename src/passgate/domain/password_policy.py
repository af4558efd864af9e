"""A database connection's password policy, as Auth0 defines it: pure rules, no I/O.

Strength levels (``options.passwordPolicy``), each a minimum length and character rules,
with the character classes counted as Auth0's password-sheriff counts them (ASCII):

=========  ==========  ===============================================================
level      min length  characters
=========  ==========  ===============================================================
none       1           any
low        6           any
fair       8           lower case, upper case and digits, all three
good       8           three of the four classes: lower, upper, digit, special
excellent  10          as good, and no more than 2 identical characters in a row
=========  ==========  ===============================================================

``password_complexity_options.min_length`` (1..128) raises the minimum, never lowers it.
Lengths count characters (Unicode code points). Beyond the level, a connection may refuse
common passwords (:func:`in_dictionary`), passwords holding the user's own details
(:func:`holds_personal_info`) and recent passwords (history: compared by the caller with
the same argon2 verification as a login). :class:`StrengthPolicy` gives the rules in
Auth0's shape (``message``, ``format``, ``code``, ``items``, ``verified``) and the
``policy`` text Auth0's answers carry.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Container, Iterable
from typing import Any

__all__ = [
    "DEFAULT_LEVEL",
    "LEVELS",
    "LEVEL_MIN_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "StrengthPolicy",
    "holds_personal_info",
    "in_dictionary",
    "personal_values",
]

LEVELS: tuple[str, ...] = ("none", "low", "fair", "good", "excellent")
#: What a connection without ``passwordPolicy`` (absent or null) enforces, as Auth0 does.
DEFAULT_LEVEL = "none"
LEVEL_MIN_LENGTH = {"none": 1, "low": 6, "fair": 8, "good": 8, "excellent": 10}
#: passgate's upper bound (the token endpoint refuses longer passwords).
MAX_PASSWORD_LENGTH = 4096

_SPECIAL = frozenset(string.punctuation + " ")
_CLASSES: tuple[tuple[str, str, Any], ...] = (
    ("lowerCase", "lower case letters (a-z)", lambda ch: "a" <= ch <= "z"),
    ("upperCase", "upper case letters (A-Z)", lambda ch: "A" <= ch <= "Z"),
    ("numbers", "numbers (i.e. 0-9)", lambda ch: "0" <= ch <= "9"),
    ("specialCharacters", "special characters (e.g. !@#$%^&*)", lambda ch: ch in _SPECIAL),
)
#: More than two identical characters in a row (what ``excellent`` refuses).
_THREE_IN_A_ROW = re.compile(r"(.)\1\1", re.DOTALL)
#: Personal values shorter than this are not looked for inside a password (a one-letter
#: nickname would refuse nearly every password).
MIN_PERSONAL_LENGTH = 3


def _classes_present(password: str) -> set[str]:
    return {code for code, _, test in _CLASSES if any(test(ch) for ch in password)}


@dataclasses.dataclass(frozen=True, slots=True)
class StrengthPolicy:
    """A level and an optional raised minimum length."""

    level: str = DEFAULT_LEVEL
    min_length: int | None = None
    max_length: int = MAX_PASSWORD_LENGTH

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown password policy level {self.level!r}")

    @property
    def minimum(self) -> int:
        """The length a password needs: the level's, raised by ``min_length``."""
        return max(LEVEL_MIN_LENGTH[self.level], self.min_length or 1)

    # -- the rules, in Auth0's shape -------------------------------------------------
    def _length_rule(self, password: str | None) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "message": "At least %d characters in length",
            "format": [self.minimum],
            "code": "lengthAtLeast",
        }
        rule["verified"] = password is None or len(password) >= self.minimum
        return rule

    def _max_rule(self, password: str | None) -> dict[str, Any]:
        return {
            "message": "At most %d characters in length",
            "format": [self.max_length],
            "code": "lengthAtMost",
            "verified": password is None or len(password) <= self.max_length,
        }

    def _class_rule(self, password: str | None) -> dict[str, Any] | None:
        if self.level in ("none", "low"):
            return None
        present = _classes_present(password) if password is not None else None
        wanted = _CLASSES[:3] if self.level == "fair" else _CLASSES
        items = [
            {
                "message": message,
                "code": code,
                "verified": present is None or code in present,
            }
            for code, message, _ in wanted
        ]
        if self.level == "fair":
            return {
                "message": "Should contain:",
                "code": "contains",
                "items": items,
                "verified": all(item["verified"] for item in items),
            }
        count = sum(1 for item in items if item["verified"]) if present is not None else 4
        return {
            "message": "Contain at least %d of the following %d types of characters:",
            "format": [3, 4],
            "code": "containsAtLeast",
            "items": items,
            "verified": count >= 3,
        }

    def _identical_rule(self, password: str | None) -> dict[str, Any] | None:
        if self.level != "excellent":
            return None
        return {
            "message": 'No more than %d identical characters in a row (e.g., "%s" not allowed)',
            "format": [2, "aaa"],
            "code": "identicalChars",
            "verified": password is None or _THREE_IN_A_ROW.search(password) is None,
        }

    def rules(self, password: str | None = None) -> list[dict[str, Any]]:
        """The rules, each ``verified`` against ``password`` (all true without one)."""
        found = [
            self._length_rule(password),
            self._class_rule(password),
            self._identical_rule(password),
            self._max_rule(password),
        ]
        return [rule for rule in found if rule is not None]

    def failed(self, password: str) -> list[dict[str, Any]]:
        """The rules ``password`` breaks (empty: it is strong enough)."""
        return [rule for rule in self.rules(password) if not rule["verified"]]

    def summary(self) -> str:
        """The policy in words, as Auth0's ``policy`` field gives it."""
        lines: list[str] = []
        for rule in self.rules():
            text = rule["message"] % tuple(rule.get("format", ()))
            lines.append("* " + text)
            lines.extend(" * " + item["message"] for item in rule.get("items", ()))
        return "\n".join(lines)

    def describe_failure(self, failed: list[dict[str, Any]]) -> str:
        """One sentence saying what to change."""
        codes = {rule["code"] for rule in failed}
        if "lengthAtMost" in codes:
            return f"Password is too long: use at most {self.max_length} characters."
        parts: list[str] = []
        if "lengthAtLeast" in codes:
            parts.append(f"use at least {self.minimum} characters")
        if "contains" in codes:
            parts.append("use lower case letters, upper case letters and numbers")
        if "containsAtLeast" in codes:
            parts.append(
                "use at least 3 of: lower case letters, upper case letters, numbers, "
                "special characters"
            )
        if "identicalChars" in codes:
            parts.append("no more than 2 identical characters in a row")
        return "Password is too weak: " + "; ".join(parts) + "."


def in_dictionary(password: str, *dictionaries: Container[str]) -> bool:
    """Whether ``password``, in any case, is a word of one of ``dictionaries`` (each
    holding lower-case words)."""
    folded = password.casefold()
    lowered = password.lower()
    return any(folded in words or lowered in words for words in dictionaries)


def personal_values(
    *, email: str | None, username: str | None, names: Iterable[str | None]
) -> list[str]:
    """What a password may not hold: the email's local part, the username and the names
    (name, given and family name, nickname), case-folded, short ones left out."""
    values: list[str | None] = [email.rpartition("@")[0] if email else None, username, *names]
    found: list[str] = []
    for value in values:
        if value and len(value.strip()) >= MIN_PERSONAL_LENGTH:
            folded = value.strip().casefold()
            if folded not in found:
                found.append(folded)
    return found


def holds_personal_info(password: str, values: Iterable[str]) -> bool:
    """Whether ``password`` (case-insensitively) contains one of ``values`` (from
    :func:`personal_values`)."""
    folded = password.casefold()
    return any(value in folded for value in values)
