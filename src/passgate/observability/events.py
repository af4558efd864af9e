"""Counting events as they are written: ``passgate_events_total`` and the protection
decisions they record.

Every decision worth counting already writes an event, so the counts come from there,
in one place, whatever path (token endpoint, sign-up, password reset) made it:

    fepft / fs / fcp ... with error too_many_attempts   brute_force_block or ip_throttle
                                                          (by the refusal's message)
    limit_sul                                             limit_sul
    any event with error password_leaked                 breached
    a token event whose details say ip_header            ip_header_ignored
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passgate.domain.events import Event, EventSink
from passgate.errors import BRUTE_FORCE_MESSAGE, SUSPICIOUS_IP_MESSAGE
from passgate.observability.metrics import Metrics

__all__ = ["MeteredEvents", "protection_reasons"]

_TOO_MANY = "too_many_attempts"
_REFUSALS = {BRUTE_FORCE_MESSAGE: "brute_force_block", SUSPICIOUS_IP_MESSAGE: "ip_throttle"}


def protection_reasons(event: Event) -> list[str]:
    """The protection decisions ``event`` records (usually none)."""
    if event.type == "limit_sul":
        return ["limit_sul"]
    details: Mapping[str, Any] = event.details
    if not details:
        return []
    reasons: list[str] = []
    error = details.get("error")
    if type(error) is dict or isinstance(error, Mapping):
        code = error.get("error") or error.get("code")
        if code == _TOO_MANY:
            reason = _REFUSALS.get(str(error.get("message")))
            if reason is not None:
                reasons.append(reason)
        elif code == "password_leaked":
            reasons.append("breached")
    if "ip_header" in details:
        reasons.append("ip_header_ignored")
    return reasons


class MeteredEvents:
    """An :class:`EventSink` that counts each event, then hands it to ``inner``."""

    def __init__(self, inner: EventSink, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def emit(self, event: Event) -> None:
        metrics = self._metrics
        metrics.count_event(event.type, event.client_id)
        details = event.details
        if (
            details and ("error" in details or "ip_header" in details)
        ) or event.type == "limit_sul":
            for reason in protection_reasons(event):
                metrics.count_decision(reason)
        self._inner.emit(event)
