"""Log streams as values: Auth0's event categories, the stream's settings and delivery state,
and the pure rules of delivery (which events a stream wants, when to retry).

A stream's ``filters`` name Auth0's event categories (``auth.login.fail``,
``auth.token_exchange.success``, ``management.fail``…); an event belongs to exactly one,
found from its type code by :func:`category_of`. passgate's password logins are token
exchanges in Auth0's terms (``sepft``/``fepft`` are ``auth.token_exchange.*``), and what
Auth0 files under no other category (blocks, breached passwords) is ``other``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

__all__ = [
    "CATEGORIES",
    "DEFAULT_CONTENT_FORMAT",
    "DEFAULT_CONTENT_TYPE",
    "FORMATS",
    "STATUSES",
    "DeliveryState",
    "LogStream",
    "category_of",
    "expand_categories",
    "retry_delay",
    "wants",
]

#: Every category name Auth0 accepts in a log stream's filters.
CATEGORIES: tuple[str, ...] = (
    "auth.ancillary.fail",
    "auth.ancillary.success",
    "auth.login.fail",
    "auth.login.notification",
    "auth.login.success",
    "auth.logout.fail",
    "auth.logout.success",
    "auth.signup.fail",
    "auth.signup.success",
    "auth.silent_auth.fail",
    "auth.silent_auth.success",
    "auth.token_exchange.fail",
    "auth.token_exchange.success",
    "management.fail",
    "management.success",
    "scim.event",
    "system.notification",
    "user.fail",
    "user.notification",
    "user.success",
    "actions",
    "other",
)

#: The category of each event code passgate writes (and of the few Auth0 codes that
#: passgate's SPEC names); any other code is ``other``.
_CATEGORY_OF: Mapping[str, str] = {
    # logins elsewhere (Auth0's codes; passgate's password logins are exchanges below)
    "s": "auth.login.success",
    "f": "auth.login.fail",
    "fp": "auth.login.fail",
    "fu": "auth.login.fail",
    "w": "auth.login.notification",
    "slo": "auth.logout.success",
    "flo": "auth.logout.fail",
    "ss": "auth.signup.success",
    "fs": "auth.signup.fail",
    "ssa": "auth.silent_auth.success",
    "fsa": "auth.silent_auth.fail",
    "sepft": "auth.token_exchange.success",
    "seccft": "auth.token_exchange.success",
    "sertft": "auth.token_exchange.success",
    "fepft": "auth.token_exchange.fail",
    "feccft": "auth.token_exchange.fail",
    "fertft": "auth.token_exchange.fail",
    "ferrt": "auth.token_exchange.fail",
    "sapi": "management.success",
    "fapi": "management.fail",
    "scp": "user.success",
    "scpr": "user.success",
    "ublkdu": "user.success",
    "fcp": "user.fail",
    "fcpr": "user.fail",
}

STATUSES = ("active", "paused", "suspended")
FORMATS = ("JSONLINES", "JSONARRAY", "JSONOBJECT")
DEFAULT_CONTENT_TYPE = "application/json"
DEFAULT_CONTENT_FORMAT = "JSONLINES"


def category_of(event_type: str) -> str:
    """The Auth0 category an event of type ``event_type`` belongs to."""
    return _CATEGORY_OF.get(event_type, "other")


def wants(filters: Collection[str], event_type: str) -> bool:
    """Whether a stream with ``filters`` delivers an event of ``event_type`` (no filter:
    every event)."""
    return not filters or category_of(event_type) in filters


def expand_categories(names: Collection[str]) -> list[str]:
    """``names`` with each ``family.*`` replaced by the categories of that family
    (``auth.signup.*`` -> ``auth.signup.fail``, ``auth.signup.success``), in
    :data:`CATEGORIES` order, once each. A pattern that matches nothing stays as it is, for
    the caller's check to refuse."""
    expanded: list[str] = []
    for name in names:
        if name.endswith(".*"):
            prefix = name[:-1]
            matched = [c for c in CATEGORIES if c.startswith(prefix)]
            expanded += matched or [name]
        else:
            expanded.append(name)
    return list(dict.fromkeys(expanded))


def retry_delay(failures: int, *, base_s: float, cap_s: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: ``base_s`` doubled each
    time, at most ``cap_s``."""
    if failures <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2.0 ** min(failures - 1, 62)))


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryState:
    """How far a stream got, and who delivers it."""

    cursor_seq: int = 0
    cursor_log_id: str | None = None
    lease_owner: str | None = None
    lease_until: float = 0.0
    failures: int = 0
    failing_since: float | None = None
    retry_at: float = 0.0
    last_error: str | None = None
    delivered_at: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LogStream:
    """A log stream of type ``http``. ``authorization_sealed`` is the sealed
    ``Authorization`` header value (None: none is sent); only the deliverer opens it."""

    id: str
    name: str
    status: str
    filters: tuple[str, ...]
    endpoint: str
    content_type: str
    content_format: str
    authorization_sealed: str | None
    authorization_kek_id: str | None
    created_at: float
    updated_at: float
    delivery: DeliveryState = DeliveryState()
    type: str = "http"
