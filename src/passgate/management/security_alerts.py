"""The security alerts' thresholds, read and changed in their Management API shape.

``GET/PATCH /api/v2/passgate/security-alerts`` and ``passgate alerts show|set`` both go
through :class:`AlertSettings`: the validation is the policy's own
(:mod:`passgate.domain.security_alerts`), a PATCH is merged into the stored thresholds and
stored with a compare-and-set (two changes at once both land; a refused one changes
nothing). Running servers apply a change within their settings cache time (1 s).
"""

from __future__ import annotations

from typing import Any

from passgate.domain.security_alerts import AlertPolicy, patch
from passgate.management.attack_protection import changed_fields
from passgate.protection.alerts import SECURITY_ALERTS_KEY, read_alert_policy
from passgate.storage.settings_store import SettingsStore

__all__ = ["AlertSettings"]


class AlertSettings:
    """Reads and patches the ``security_alerts`` tenant setting (blocking)."""

    def __init__(self, store: SettingsStore) -> None:
        self._store = store

    def get(self) -> AlertPolicy:
        self._store.invalidate(SECURITY_ALERTS_KEY)
        return read_alert_policy(self._store)

    def update(self, body: object) -> tuple[AlertPolicy, dict[str, Any]]:
        """Apply a PATCH ``body``; return the thresholds after it and the fields changed
        (dotted paths). Raises :class:`~passgate.domain.policy.PolicyError`, storing
        nothing, when a field is refused."""
        result: list[AlertPolicy] = []

        def change(value: Any) -> Any:
            current = AlertPolicy() if value is None else AlertPolicy.from_json(value)
            after = patch(current, body)
            result[:] = [current, after]
            return after.to_json()

        self._store.update_json(SECURITY_ALERTS_KEY, change)
        before, after = result
        return after, changed_fields(before.to_json(), after.to_json())
