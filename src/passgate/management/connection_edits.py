"""Changing some of a connection's options and keeping the rest, as ``passgate
connections set`` and the console's connection form do (the Management API's PATCH
replaces the whole ``options`` object: these build that object). The result is checked
by :class:`~passgate.management.connections.ConnectionChange` like any PATCH body."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from passgate.domain.connection_options import DEFAULT_HISTORY_SIZE

__all__ = ["UNSET_POLICY", "OptionEdits"]

#: ``password_policy`` that stores ``passwordPolicy: null`` (Auth0's "none").
UNSET_POLICY = "unset"


@dataclasses.dataclass(frozen=True, slots=True)
class OptionEdits:
    """Changes to make; ``None`` leaves an option as it is."""

    #: A level, or :data:`UNSET_POLICY`.
    password_policy: str | None = None
    #: Raise the level's minimum to N; 0 removes ``password_complexity_options``.
    min_length: int | None = None
    #: Refuse the last N passwords; 0 turns history off.
    history_size: int | None = None
    dictionary: bool | None = None
    #: The connection's own words (replacing the list; empty: none).
    dictionary_words: tuple[str, ...] | None = None
    personal_info: bool | None = None
    signup: bool | None = None
    requires_username: bool | None = None
    username_min: int | None = None
    username_max: int | None = None
    #: Remove ``validation.username`` (usernames limited only by the column).
    clear_username_bounds: bool = False
    brute_force: bool | None = None

    def applied(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` with these changes."""
        out = dict(options)
        if self.password_policy is not None:
            out["passwordPolicy"] = (
                None if self.password_policy == UNSET_POLICY else self.password_policy
            )
        if self.min_length is not None:
            if self.min_length == 0:
                out.pop("password_complexity_options", None)
            else:
                out["password_complexity_options"] = {"min_length": self.min_length}
        if self.history_size is not None:
            size = self.history_size
            out["password_history"] = {"enable": size > 0, "size": size or DEFAULT_HISTORY_SIZE}
        if self.dictionary is not None or self.dictionary_words is not None:
            out["password_dictionary"] = self._dictionary(out.get("password_dictionary"))
        if self.personal_info is not None:
            out["password_no_personal_info"] = {"enable": self.personal_info}
        if self.signup is not None:
            out["disable_signup"] = not self.signup
        if self.requires_username is not None:
            out["requires_username"] = self.requires_username
        self._username_bounds(out)
        if self.brute_force is not None:
            out["brute_force_protection"] = self.brute_force
        return out

    def _dictionary(self, current: object) -> dict[str, Any]:
        now = current if isinstance(current, Mapping) else {}
        enable = self.dictionary if self.dictionary is not None else now.get("enable") is True
        entry: dict[str, Any] = {"enable": enable}
        words = (
            list(self.dictionary_words)
            if self.dictionary_words is not None
            else now.get("dictionary")
        )
        if words:
            entry["dictionary"] = words
        return entry

    def _username_bounds(self, out: dict[str, Any]) -> None:
        current = out.get("validation")
        validation = dict(current) if isinstance(current, Mapping) else {}
        if self.clear_username_bounds:
            if validation.pop("username", None) is not None:
                if validation:
                    out["validation"] = validation
                else:
                    out.pop("validation", None)
            return
        if self.username_min is None and self.username_max is None:
            return
        username = validation.get("username")
        bounds = dict(username) if isinstance(username, Mapping) else {}
        if self.username_min is not None:
            bounds["min"] = self.username_min
        if self.username_max is not None:
            bounds["max"] = self.username_max
        validation["username"] = bounds
        out["validation"] = validation
