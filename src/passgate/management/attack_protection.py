"""The three attack-protection policies, read and changed in the Management API's shapes.

``GET/PATCH /api/v2/attack-protection/…`` and ``passgate protection show|set`` both go
through :class:`AttackProtection`: the validation is the policies' own
(:mod:`passgate.domain.policy`), a PATCH is merged into the stored policy by
:func:`~passgate.domain.policy.merge_patch` and stored with a compare-and-set, so a refused
patch changes nothing and two patches at once both land. Running servers apply a change
within their settings cache time (1 s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from passgate.domain.policy import (
    BreachedPasswordPolicy,
    BruteForcePolicy,
    Policy,
    SuspiciousIpPolicy,
    merge_patch,
)
from passgate.storage.settings_store import SettingsStore

__all__ = [
    "BREACHED_PASSWORD",
    "BRUTE_FORCE",
    "SECTIONS",
    "SUSPICIOUS_IP",
    "AnyPolicy",
    "AttackProtection",
    "PolicyUpdate",
    "changed_fields",
]

AnyPolicy = BruteForcePolicy | SuspiciousIpPolicy | BreachedPasswordPolicy

#: The sections by their Management API path segment.
BRUTE_FORCE = "brute-force-protection"
SUSPICIOUS_IP = "suspicious-ip-throttling"
BREACHED_PASSWORD = "breached-password-detection"
SECTIONS: Mapping[str, type[AnyPolicy]] = {
    BRUTE_FORCE: BruteForcePolicy,
    SUSPICIOUS_IP: SuspiciousIpPolicy,
    BREACHED_PASSWORD: BreachedPasswordPolicy,
}


@dataclass(frozen=True, slots=True)
class PolicyUpdate:
    """A stored PATCH: the policy now, and each field it changed with its new value."""

    policy: AnyPolicy
    #: Dotted field path (``stage.pre-login.rate``) -> new value; empty when the patch
    #: changed nothing.
    changes: dict[str, Any]


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``after`` that differ from ``before`` (objects compared field by
    field, arrays whole), as dotted paths to their new values."""
    changes: dict[str, Any] = {}
    for name, value in after.items():
        old = before.get(name)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            for path, inner in changed_fields(old, value).items():
                changes[f"{name}.{path}"] = inner
        elif value != old:
            changes[name] = value
    return changes


class AttackProtection:
    """Reads and patches the policies (blocking: they live in the database)."""

    def __init__(
        self, store: SettingsStore, *, on_change: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        #: Runs after a change is stored (a server reloads the policies its requests read).
        self._on_change = on_change

    def get(self, section: str) -> AnyPolicy:
        """The policy of ``section`` (one of :data:`SECTIONS`), as stored now."""
        kind = SECTIONS[section]
        self._store.invalidate()
        if kind is BruteForcePolicy:
            return self._store.get_brute_force()
        if kind is SuspiciousIpPolicy:
            return self._store.get_suspicious_ip()
        return self._store.get_breached_password()

    def update(self, section: str, patch: object) -> PolicyUpdate:
        """Apply a PATCH body to ``section``'s policy and store it; raises
        :class:`~passgate.domain.policy.PolicyError` naming the refused field, storing
        nothing."""
        kind = SECTIONS[section]
        pair: tuple[AnyPolicy, AnyPolicy]
        if kind is BruteForcePolicy:
            pair = self._update(BruteForcePolicy, patch)
        elif kind is SuspiciousIpPolicy:
            pair = self._update(SuspiciousIpPolicy, patch)
        else:
            pair = self._update(BreachedPasswordPolicy, patch)
        before, after = pair
        return PolicyUpdate(policy=after, changes=changed_fields(before.to_json(), after.to_json()))

    def _update(self, kind: type[Policy], patch: object) -> tuple[Policy, Policy]:
        pair = self._store.update_policy(kind, lambda current: merge_patch(current, patch))
        if self._on_change is not None:
            self._on_change()
        return pair
