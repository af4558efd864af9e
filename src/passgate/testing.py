"""Helpers for tests, shipped so that applications can use them in their own tests."""

from __future__ import annotations

import threading

from passgate.domain.events import Event
from passgate.protection.subjects import login_key

__all__ = ["CapturedEvents", "ManualClock", "login_key"]


class ManualClock:
    """A clock that moves only when told: ``clock()`` reads it, ``advance`` moves it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a manual clock does not go backwards")
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


class CapturedEvents:
    """An event sink that keeps what it is given, in order."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def of_type(self, *types: str) -> list[Event]:
        return [event for event in self.events if event.type in types]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
