"""What a log stream's delivery can fail with (no HTTP framework here: the tree of
passgate's errors stays free of them)."""

from __future__ import annotations

from passgate.errors import PassgateError

__all__ = ["DeliveryFailed"]


class DeliveryFailed(PassgateError):
    """A request that did not deliver: ``reason`` is safe to store and log (no URL, no
    header, no body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
