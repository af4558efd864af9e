"""Events are data: Auth0 log event codes and the fields SPEC §7 names.

Never put a password, a client secret or a token in an event: ``details`` carries
decisions and reasons only.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["DESCRIPTIONS", "EVENT_COLUMNS", "Event", "EventSink", "log_date", "new_log_id"]

DESCRIPTIONS: Mapping[str, str] = {
    "sepft": "Successful exchange of password for access token",
    "fepft": "Failed exchange of password for access token",
    "seccft": "Successful exchange of access token for a client credentials grant",
    "feccft": "Failed exchange of access token for a client credentials grant",
    "sertft": "Successful exchange of refresh token for access token",
    "fertft": "Failed exchange of refresh token for access token",
    "ferrt": "Failed exchange of rotating refresh token: reuse detected, its family was revoked",
    "srrt": "Successfully revoked a refresh token",
    "limit_wc": "Blocked account",
    "limit_mu": "Blocked IP address",
    "limit_sul": "Too many logins per user per IP",
    "ublkdu": "User block released",
    "pwd_leak": "Breached password",
    "signup_pwd_leak": "Breached password on signup",
    "reset_pwd_leak": "Breached password on reset",
    "ss": "Successful signup",
    "fs": "Failed signup",
    "scp": "Successful change password",
    "fcp": "Failed change password",
    "scpr": "Successful change password request",
    "fcpr": "Failed change password request",
    "security_alert": "Security alert: an hour reached a threat's threshold",
    "s": "Success Login",
    "f": "Failed Login",
    "fp": "Failed Login (Incorrect Password)",
    "fu": "Failed Login (Invalid Email/Username)",
    "slo": "Success Logout",
    "sapi": "Success API Operation",
    "fapi": "Failed API Operation",
}


_process_tag = secrets.token_hex(5)
_sequence = itertools.count()


def _new_process_tag() -> None:
    global _process_tag
    _process_tag = secrets.token_hex(5)


os.register_at_fork(after_in_child=_new_process_tag)


def new_log_id(now: float) -> str:
    """Time-ordered and unique: microseconds since the epoch, a random tag drawn once per
    process (re-drawn in a forked child), and a per-process sequence number.

    Drawing randomness per event costs ~30 µs here (``os.urandom``); a counter does not.
    """
    return f"{int(now * 1_000_000):017d}{_process_tag}{next(_sequence) & 0xFFFFFFFF:08x}"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    type: str
    date: float = dataclasses.field(default_factory=time.time)
    log_id: str = ""
    description: str | None = None
    ip: str | None = None
    client_ip: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    connection: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    user_agent: str | None = None
    audience: str | None = None
    scope: str | None = None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.log_id:
            object.__setattr__(self, "log_id", new_log_id(self.date))
        if self.description is None:
            object.__setattr__(self, "description", DESCRIPTIONS.get(self.type, self.type))

    def to_json(self) -> dict[str, Any]:
        """The Auth0 log shape: ``date`` as an ISO 8601 UTC string."""
        out = dataclasses.asdict(self)
        out["details"] = dict(self.details)
        out["date"] = log_date(self.date)
        return out


def log_date(timestamp: float) -> str:
    """A moment as Auth0 writes a log's date: ISO 8601 in UTC, to the millisecond, ``Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: The fields of an event the log keeps one column each (``details`` is kept as JSON).
EVENT_COLUMNS: tuple[str, ...] = (
    "log_id",
    "date",
    "type",
    "description",
    "ip",
    "client_ip",
    "client_id",
    "client_name",
    "connection",
    "user_id",
    "user_name",
    "user_agent",
    "audience",
    "scope",
)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...
