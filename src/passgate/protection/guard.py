"""Attack protection on the password-login path: the :class:`LoginGuard` that enforces it.

    admit      suspicious-IP bucket empty?  -> 429 (no hashing)
               per-user-per-IP login rate?  -> 429 limit_sul
               (identifier, IP) blocked?    -> 429 (a read; no write for a blocked pair)
               reserve one attempt          -> 429 when the last attempts are in flight
    failed     count the failure; the one reaching max_attempts logs limit_wc and emails
               an unblock link; take a token from the IP's pre-login bucket (limit_mu
               when it empties)
    succeeded  reset the count; take a token from the per-user-per-IP login rate

The rules are the pure functions of :mod:`.brute_force` and :mod:`.ip_throttle`; this
module only loads state, applies them and saves the result, each step one atomic
backend operation. A backend fault (Redis down without fallback) refuses the login with
503 rather than letting it through unprotected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from passgate.domain.brute_force import (
    PER_IDENTIFIER_AND_IP,
    BruteForceMode,
    attempt_key,
    failure_outcome,
    protection_mode,
)
from passgate.domain.client_ip import normalise_ip
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.identifiers import canonical_identifier, counter_subject
from passgate.domain.ip_throttle import (
    PRE_LOGIN,
    ThrottleMode,
    has_token,
    rate_seconds,
    retry_after,
    throttle_mode,
)
from passgate.domain.login import GuardTicket, LoginAttempt
from passgate.domain.policy import BruteForcePolicy, SuspiciousIpPolicy
from passgate.errors import (
    BRUTE_FORCE_MESSAGE,
    SUSPICIOUS_IP_MESSAGE,
    OAuthError,
    ServiceUnavailable,
    StorageError,
    TooManyAttempts,
)
from passgate.storage.counters import AttackCounters, AttemptKey
from passgate.support.cache import MISS, TtlCache

__all__ = ["SUL_CAPACITY", "SUL_MESSAGE", "Notifier", "PolicySource", "ProtectionGuard"]

logger = logging.getLogger("passgate.protection")
T = TypeVar("T")

#: Successful logins per user per IP: a burst of 20, then one more every 3 seconds.
SUL_CAPACITY = 20
SUL_RATE_S = 3.0
SUL_MESSAGE = "Too many logins for this user from this IP address. Please try again later."
NOTIFY_EVERY_S = 3600.0
#: How long a process remembers a refusal, so a flood is refused without any I/O.
REFUSAL_MEMORY_S = 1.0
#: How many refusals a process remembers at most (the newest).
REFUSALS_KEPT = 100_000


class PolicySource(Protocol):
    def get_brute_force(self) -> BruteForcePolicy: ...

    def get_suspicious_ip(self) -> SuspiciousIpPolicy: ...


class Notifier(Protocol):
    """Emails that protection sends; both are best effort and never raise."""

    def account_blocked(self, key: AttemptKey, attempt: LoginAttempt) -> None: ...

    def ip_throttled(self, ip: str, attempt: LoginAttempt) -> None: ...


def _key(mode: str, attempt: LoginAttempt) -> AttemptKey:
    """The attempt's counter key: its account's when it resolved to one."""
    return attempt_key(
        mode,
        attempt.connection,
        attempt.identifier,
        attempt.context.ip,
        user_id=attempt.user_id,
        shown_as=attempt.user_email,
    )


def _spelling(mode: str, attempt: LoginAttempt) -> str:
    """What the event loop can name an attempt by before its account is looked up (the
    identifier as spelled, canonicalised): a refusal is remembered under it too."""
    ident = canonical_identifier(attempt.identifier)
    subject = counter_subject(attempt.connection, user_id=None, identifier=ident)
    where = ":" + normalise_ip(attempt.context.ip) if mode == PER_IDENTIFIER_AND_IP else ""
    return f"spelling:{mode}:{subject}{where}"


def _sul_stage(attempt: LoginAttempt) -> str:
    """The per-user per-IP login-rate bucket's stage: the account's (or the identifier's)."""
    subject = counter_subject(
        attempt.connection,
        user_id=attempt.user_id,
        identifier=canonical_identifier(attempt.identifier),
    )
    return "sul:" + subject[:24]


class ProtectionGuard:
    def __init__(
        self,
        *,
        counters: AttackCounters,
        policies: PolicySource,
        events: EventSink,
        notifier: Notifier,
        clock: Clock,
        login_rate_limit: bool = True,
    ) -> None:
        self._counters = counters
        self._policies = policies
        self._events = events
        self._notifier = notifier
        self._clock = clock
        self._login_rate_limit = login_rate_limit
        # Refusals this process saw lately, by "ip:<ip>" or an attempt key, with the
        # policy objects they were decided under (a policy change forgets them) and when
        # they stop being trusted. The state that protects accounts stays in the backend:
        # this only saves I/O while a flood repeats a known refusal, and a release made
        # by another process (an administrator, an unblock link) shows here within
        # REFUSAL_MEMORY_S. At most REFUSALS_KEPT of them (the newest).
        self._refusals: TtlCache[str, tuple[object, str, float]] = TtlCache(
            ttl=REFUSAL_MEMORY_S, size=REFUSALS_KEPT, clock=clock
        )

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def _backend(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except StorageError as exc:
            logger.error("attack-protection backend unavailable: %s", exc)
            raise ServiceUnavailable() from exc

    def _event(self, kind: str, attempt: LoginAttempt, **extra: Any) -> None:
        details = extra.pop("details", {})
        self._events.emit(
            Event(
                type=kind,
                date=self._clock(),
                connection=attempt.connection,
                user_name=attempt.identifier,
                **attempt.context.event_fields(),
                **extra,
                details=details,
            )
        )

    def _remember(self, key: str, policy: object, message: str, until: float) -> None:
        self._refusals.put(key, (policy, message, until), until=until)

    def _remembered(self, key: str, policy: object) -> tuple[str, float] | None:
        """The message of a refusal remembered under ``policy``, and until when."""
        hit = self._refusals.peek(key)
        if hit is MISS or hit[0] is not policy:
            return None
        return hit[1], hit[2]

    def forget_refusals(self) -> None:
        """Drop remembered refusals (after a release made in this process)."""
        self._refusals.clear()

    # -- LoginGuard ----------------------------------------------------------------
    def refuse_early(self, attempt: LoginAttempt) -> OAuthError | None:
        if len(self._refusals) == 0:
            return None
        ip = attempt.context.ip
        throttled = self._remembered("ip:" + ip, self._policies.get_suspicious_ip())
        if throttled is not None:
            message, until = throttled
            return TooManyAttempts(message, retry_after=max(0.0, until - self._clock()))
        if not attempt.brute_force:
            return None
        policy = self._policies.get_brute_force()
        blocked = self._remembered(_spelling(policy.mode, attempt), policy)
        return TooManyAttempts(blocked[0]) if blocked is not None else None

    def admit(self, attempt: LoginAttempt) -> GuardTicket:
        now = self._clock()
        ip = attempt.context.ip
        throttling = self._policies.get_suspicious_ip()
        tmode = throttle_mode(throttling, ip)
        sul_stage = _sul_stage(attempt) if self._login_rate_limit else None
        stages = [PRE_LOGIN] if tmode is ThrottleMode.ENFORCE else []
        if sul_stage is not None:
            stages.append(sul_stage)
        tats = self._backend(self._counters.bucket_tats, ip, stages) if stages else {}
        if tmode is ThrottleMode.ENFORCE:
            stage = throttling.pre_login
            capacity, rate_s = stage.max_attempts, rate_seconds(stage.rate)
            tat = tats[PRE_LOGIN]
            if not has_token(tat, now, capacity, rate_s):
                # Remembered no longer than until the bucket's next token is due.
                due = retry_after(tat, now, capacity, rate_s)
                wait = min(REFUSAL_MEMORY_S, due)
                self._remember("ip:" + ip, throttling, SUSPICIOUS_IP_MESSAGE, now + wait)
                raise TooManyAttempts(SUSPICIOUS_IP_MESSAGE, retry_after=due)

        if sul_stage is not None and not has_token(tats[sul_stage], now, SUL_CAPACITY, SUL_RATE_S):
            self._event("limit_sul", attempt, details={"error": "too_many_logins"})
            due = retry_after(tats[sul_stage], now, SUL_CAPACITY, SUL_RATE_S)
            raise TooManyAttempts(SUL_MESSAGE, retry_after=due)

        policy = self._policies.get_brute_force()
        bmode = protection_mode(policy, ip) if attempt.brute_force else BruteForceMode.OFF
        key = None
        if bmode is not BruteForceMode.OFF:
            key = _key(policy.mode, attempt)
        if bmode is BruteForceMode.ENFORCE and key is not None:
            reservation = self._backend(
                self._counters.reserve_attempt, key, max_attempts=policy.max_attempts, now=now
            )
            if not reservation.allowed:
                if reservation.failures >= policy.max_attempts:
                    # Blocked (not merely busy with attempts in flight). Remembered only
                    # when the block outlasts the memory (30 days end it).
                    later = now + REFUSAL_MEMORY_S
                    if (
                        self._backend(self._counters.failures, key, now=later)
                        >= policy.max_attempts
                    ):
                        self._remember(key.key, policy, BRUTE_FORCE_MESSAGE, later)
                        spelling = _spelling(policy.mode, attempt)
                        self._remember(spelling, policy, BRUTE_FORCE_MESSAGE, later)
                raise TooManyAttempts(BRUTE_FORCE_MESSAGE)
        return GuardTicket(
            attempt=attempt,
            keys=(key.key,) if key is not None else (),
            data={"key": key, "bmode": bmode, "tmode": tmode, "bf": policy, "sip": throttling},
        )

    def failed(self, ticket: GuardTicket, *, user_id: str | None) -> None:
        now = self._clock()
        attempt = ticket.attempt
        key: AttemptKey | None = ticket.data["key"]
        bmode: BruteForceMode = ticket.data["bmode"]
        policy: BruteForcePolicy = ticket.data["bf"]
        if key is not None:
            failures = self._backend(
                self._counters.record_failure,
                key,
                now=now,
                release=bmode is BruteForceMode.ENFORCE,
            )
            outcome = failure_outcome(failures, policy)
            if outcome.starts_block:
                self._event(
                    "limit_wc",
                    attempt,
                    user_id=user_id,
                    details={
                        "max_attempts": policy.max_attempts,
                        "mode": policy.mode,
                        "blocked": outcome.blocks,
                    },
                )
            if outcome.notify_user and self._backend(
                self._counters.once,
                f"unblock-mail:{attempt.context.ip}",
                ttl_s=NOTIFY_EVERY_S,
                now=now,
            ):
                self._notifier.account_blocked(key, attempt)
        self._consume_ip_token(ticket, now)

    def _consume_ip_token(self, ticket: GuardTicket, now: float) -> None:
        tmode: ThrottleMode = ticket.data["tmode"]
        if tmode is ThrottleMode.OFF:
            return
        throttling: SuspiciousIpPolicy = ticket.data["sip"]
        attempt = ticket.attempt
        ip = attempt.context.ip
        stage = throttling.pre_login
        capacity, rate_s = stage.max_attempts, rate_seconds(stage.rate)
        took = self._backend(
            self._counters.take_token, ip, PRE_LOGIN, capacity=capacity, rate_s=rate_s, now=now
        )
        if not took:
            return
        tat = self._backend(self._counters.bucket_tat, ip, PRE_LOGIN)
        if has_token(tat, now, capacity, rate_s):
            return
        # This failure emptied the bucket: further attempts from the IP are throttled.
        self._event(
            "limit_mu",
            attempt,
            details={"stage": PRE_LOGIN, "blocked": tmode is ThrottleMode.ENFORCE},
        )
        if "admin_notification" in throttling.shields and self._backend(
            self._counters.once, f"ip-mail:{ip}", ttl_s=NOTIFY_EVERY_S, now=now
        ):
            self._notifier.ip_throttled(ip, attempt)

    def succeeded(self, ticket: GuardTicket, *, user_id: str) -> None:
        now = self._clock()
        key: AttemptKey | None = ticket.data["key"]
        if key is not None:
            self._backend(self._counters.record_success, key, now=now)
        if self._login_rate_limit:
            self._backend(
                self._counters.take_token,
                ticket.attempt.context.ip,
                _sul_stage(ticket.attempt),
                capacity=SUL_CAPACITY,
                rate_s=SUL_RATE_S,
                now=now,
            )

    def abandon(self, ticket: GuardTicket) -> None:
        key: AttemptKey | None = ticket.data["key"]
        if key is not None and ticket.data["bmode"] is BruteForceMode.ENFORCE:
            self._backend(self._counters.release, key, now=self._clock())
