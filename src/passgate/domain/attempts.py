"""What brute-force counting counts: attempt keys, reservations, block records, and the
times they last. Pure values, shared by the rules (``brute_force``, ``ip_throttle``) and
the counters' storage ports and adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BLOCK_SECONDS",
    "DEFAULT_HOLD_SECONDS",
    "GCRA_TOLERANCE_S",
    "AttemptKey",
    "BlockRecord",
    "Reservation",
]

#: A brute-force block (and the failure count behind it) lasts 30 days from the last failure.
BLOCK_SECONDS = 30 * 24 * 3600.0
#: How long a reserved attempt counts as in flight when no outcome is recorded.
DEFAULT_HOLD_SECONDS = 60.0
#: Slack in GCRA comparisons so that float rounding of ``tat + rate`` never costs a token.
GCRA_TOLERANCE_S = 1e-3


@dataclass(frozen=True, slots=True)
class AttemptKey:
    """What brute-force protection counts against; built by ``brute_force.attempt_key``.

    ``key`` is ``"<mode>:<subject>[:<ip>]"``, a fixed size whatever the identifier. The
    ``subject`` (32 hex digits) is the account when the identifier resolves to one
    (``user_id``), else the canonical identifier; block administration finds a subject's
    keys by it. ``label`` is the identifier shown in block listings; ``ip`` is ``None``
    in ``count_per_identifier`` mode.
    """

    key: str
    subject: str
    label: str
    ip: str | None
    connection: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Answer of ``reserve_attempt``: may this request verify a password now?"""

    allowed: bool
    #: Consecutive failures counted for the key (after forgetting expired ones).
    failures: int


@dataclass(frozen=True, slots=True)
class BlockRecord:
    #: The identifier the key is shown under (the account's email for an account).
    identifier: str
    ip: str | None
    connection: str
    failures: int
    last_failure: float
    #: The account counted against, when the key is an account's.
    user_id: str | None = None
    subject: str = ""
