"""passgate's Prometheus metrics: what they are, and the cheap calls that record them.

Every name starts with ``passgate_``. Labels are bounded: event types and OAuth error codes
come from fixed sets (anything else is ``other``), and at most ``max_clients`` client ids
get a label of their own in a process (later ones are counted as ``other``); no label ever
holds a user, an IP address or a value a caller chose freely.

With ``passgate serve`` every process writes its values to files in a directory of its
server (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), and a scrape
answered by any worker adds them up. Without that directory (an application built in a
test) the values live in this object's own registry.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from passgate.domain.events import DESCRIPTIONS
from passgate.observability.multiproc import MULTIPROC_ENV, reap_dead_processes

__all__ = [
    "CONTENT_TYPE",
    "GRANTS",
    "OUTCOMES",
    "PROTECTION_REASONS",
    "Metrics",
    "grant_label",
    "outcome_label",
]

#: The classic text format (0.0.4), which every Prometheus reads; our names need no more.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: The token endpoint's grants, by the label they are counted under.
GRANTS = {
    "password": "password",
    "http://auth0.com/oauth/grant-type/password-realm": "password-realm",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
}
#: A request's outcome: ``success`` or the OAuth error code it was answered with.
OUTCOMES = frozenset(
    {
        "success",
        "invalid_request",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_client",
        "unauthorized",
        "password_leaked",
        "unauthorized_client",
        "invalid_grant",
        "access_denied",
        "too_many_attempts",
        "temporarily_unavailable",
        "server_error",
    }
)
#: Why attack protection refused or noted something (``passgate_protection_decisions_total``).
PROTECTION_REASONS = (
    "brute_force_block",
    "ip_throttle",
    "limit_sul",
    "breached",
    "ip_header_ignored",
)
EVENT_TYPES = frozenset(DESCRIPTIONS)
#: Counter-backend states: the one a process is in has the value 1.
BACKEND_STATES = ("ok", "fallback", "refusing")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HASH_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0)


def grant_label(grant: str | None) -> str:
    if not grant:
        return "none"
    return GRANTS.get(grant, "other")


def outcome_label(outcome: str | None) -> str:
    if outcome is None:
        return "server_error"
    return outcome if outcome in OUTCOMES else "other"


class Metrics:
    """The metrics of one passgate process.

    ``multiproc_dir``: the server's directory of per-process value files (None: this
    object's registry holds the values). prometheus-client chooses where values go when it
    is first imported (from ``PROMETHEUS_MULTIPROC_DIR``), so the directory must be in the
    environment before that: ``passgate serve`` sets it before any worker starts.
    """

    def __init__(self, *, max_clients: int = 100, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        self.max_clients = max_clients
        if multiproc_dir and not getattr(values.ValueClass, "_multiprocess", True):
            # prometheus-client was imported before the directory was named: write to it.
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        # The *_created series double every counter for little use (and multiprocess mode
        # does not have them): left out everywhere, so both modes answer the same names.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if multiproc_dir else self.registry
        self.events = Counter(
            "passgate_events",
            "Log events written, by type and client (client ids past the cap: other).",
            ["type", "client"],
            registry=registry,
        )
        self.protection = Counter(
            "passgate_protection_decisions",
            "Attack-protection decisions: refusals by a brute-force block, suspicious-IP "
            "throttling, the per-user per-IP login rate (limit_sul) or a breached password, "
            "and auth0-forwarded-for headers ignored.",
            ["reason"],
            registry=registry,
        )
        self.management = Counter(
            "passgate_management_api_requests",
            "Management API (/api/v2) calls answered, by method and status.",
            ["method", "status"],
            registry=registry,
        )
        self.token_latency = Histogram(
            "passgate_token_request_duration_seconds",
            "Time to answer POST /oauth/token, by grant and outcome (success or the error).",
            ["grant", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.hash_time = Histogram(
            "passgate_password_hash_duration_seconds",
            "Time of one argon2id password verification or hash (waiting for a hashing "
            "slot included).",
            ["operation"],
            buckets=_HASH_BUCKETS,
            registry=registry,
        )
        self.hash_queue = Gauge(
            "passgate_hash_queue_depth",
            "Password checks waiting for a hashing thread (sum over the server's workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.event_backlog = Gauge(
            "passgate_event_writer_backlog",
            "Events waiting to be written to the event log (sum over the server's workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.backend_state = Gauge(
            "passgate_protection_backend_state",
            "The attack-protection counters' backend: 1 for the state a worker is in (ok; "
            "fallback: Redis down, counting in SQL; refusing: Redis down, logins get 503). "
            "With several workers, a state is 1 when any worker is in it.",
            ["backend", "state"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.breached_entries = Gauge(
            "passgate_breached_index_entries",
            "Passwords in the loaded breached-password index (0 without one).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.breached_age = Gauge(
            "passgate_breached_index_age_seconds",
            "Age of the loaded breached-password index (since it was built); the oldest "
            "any worker uses. 0 without an index.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.active_blocks = Gauge(
            "passgate_active_blocks",
            "Brute-force blocks in force (sampled about once a minute).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self._lock = threading.Lock()
        self._clients: set[str] = set()
        self._event_children: dict[tuple[str, str | None], Any] = {}
        self._latency_children: dict[tuple[str | None, str | None], Any] = {}
        self._reason_children = {
            reason: self.protection.labels(reason) for reason in PROTECTION_REASONS
        }
        self._hash_children = {op: self.hash_time.labels(op) for op in ("verify", "hash")}
        for reason_child in self._reason_children.values():
            reason_child.inc(0)

    @classmethod
    def from_environment(cls, *, max_clients: int = 100) -> Metrics:
        """Metrics kept where this process's environment says (see the class)."""
        return cls(max_clients=max_clients, multiproc_dir=os.environ.get(MULTIPROC_ENV) or None)

    # -- recording (hot path: a dict lookup and an increment) -------------------------
    def client_label(self, client_id: str | None) -> str:
        if client_id is None:
            return "none"
        if client_id in self._clients:
            return client_id
        with self._lock:
            if len(self._clients) < self.max_clients:
                self._clients.add(client_id)
                return client_id
        return "other"

    def count_event(self, event_type: str, client_id: str | None) -> None:
        key = (event_type, client_id)
        child = self._event_children.get(key)
        if child is None:
            kind = event_type if event_type in EVENT_TYPES else "other"
            child = self.events.labels(kind, self.client_label(client_id))
            if len(self._event_children) < 10_000:
                self._event_children[key] = child
        child.inc()

    def count_decision(self, reason: str) -> None:
        self._reason_children[reason].inc()

    def count_management(self, method: str, status: int) -> None:
        kind = method if method in ("GET", "POST", "PUT", "PATCH", "DELETE") else "other"
        self.management.labels(kind, str(status)).inc()

    def observe_token(self, grant: str | None, outcome: str | None, seconds: float) -> None:
        key = (grant, outcome)
        child = self._latency_children.get(key)
        if child is None:
            child = self.token_latency.labels(grant_label(grant), outcome_label(outcome))
            if len(self._latency_children) < 1000:
                self._latency_children[key] = child
        child.observe(seconds)

    def observe_hash(self, operation: str, seconds: float) -> None:
        self._hash_children[operation].observe(seconds)

    def set_backend_state(self, backend: str, state: str) -> None:
        for name in BACKEND_STATES:
            self.backend_state.labels(backend, name).set(1 if name == state else 0)

    # -- exposition ------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The text format of every value: this server's workers added up."""
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        return exposition_of(self.multiproc_dir)


def exposition_of(directory: str, *, live: Iterable[int] | None = None) -> bytes:
    """The text format of the value files in ``directory``, after dropping the gauges of
    processes that are gone (a worker killed and replaced)."""
    reap_dead_processes(directory, live=live)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
