"""Time as a dependency: rules take ``now`` from a clock so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "system_clock"]

#: A clock returns the current time in seconds since the Unix epoch.
Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()
