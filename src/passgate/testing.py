"""Helpers for tests, shipped so that applications can use them in their own tests."""

from __future__ import annotations

import threading

from passgate.events import Event
from passgate.protection.brute_force import attempt_key
from passgate.storage.counters import AttemptKey
from passgate.storage.directory import DEFAULT_CONNECTION, Directory

__all__ = ["CapturedEvents", "ManualClock", "login_key"]


def login_key(
    directory: Directory,
    mode: str,
    identifier: str,
    ip: str,
    *,
    connection: str = DEFAULT_CONNECTION,
) -> AttemptKey:
    """The counter key a password login of ``identifier`` from ``ip`` counts on: its
    account's when it names one, as the token endpoint resolves it."""
    conn = directory.connection_by_name(connection)
    found = directory.find_for_login(conn.id, identifier) if conn is not None else None
    user = found[0] if found is not None else None
    return attempt_key(
        mode,
        connection,
        identifier,
        ip,
        user_id=user.id if user else None,
        shown_as=user.email if user else None,
    )


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
