"""Attack protection for sign-up and password change (SPEC §4, §3).

- Every well-formed sign-up takes a token from its IP's ``pre-user-registration``
  bucket; an empty bucket refuses it (``block`` shield) with 429 and logs ``limit_mu``.
- A password change releases every brute-force block of the user's account
  (:meth:`~passgate.protection.unblock.BlockReleases.release_account`, event ``ublkdu``).
"""

from __future__ import annotations

import logging

from passgate.accounts.service import AccountContext
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.ip_throttle import (
    PRE_USER_REGISTRATION,
    ThrottleMode,
    rate_seconds,
    throttle_mode,
)
from passgate.domain.models import User
from passgate.errors import SUSPICIOUS_IP_MESSAGE, TooManyAttempts
from passgate.protection.guard import PolicySource
from passgate.protection.unblock import PASSWORD_CHANGE, BlockReleases, ReleasedBy
from passgate.storage.counters import AttackCounters

__all__ = ["ProtectionAccountHooks"]

logger = logging.getLogger("passgate.protection")


class ProtectionAccountHooks:
    def __init__(
        self,
        *,
        counters: AttackCounters,
        policies: PolicySource,
        events: EventSink,
        clock: Clock,
        releases: BlockReleases,
    ) -> None:
        self._counters = counters
        self._policies = policies
        self._events = events
        self._clock = clock
        self._releases = releases

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        ip = context.request.ip
        policy = self._policies.get_suspicious_ip()
        mode = throttle_mode(policy, ip)
        if mode is ThrottleMode.OFF:
            return
        stage = policy.pre_user_registration
        now = self._clock()
        took = self._counters.take_token(
            ip,
            PRE_USER_REGISTRATION,
            capacity=stage.max_attempts,
            rate_s=rate_seconds(stage.rate),
            now=now,
        )
        if took:
            return
        self._events.emit(
            Event(
                type="limit_mu",
                date=now,
                connection=context.connection,
                user_name=email,
                **context.request.event_fields(),
                details={"stage": PRE_USER_REGISTRATION, "blocked": mode is ThrottleMode.ENFORCE},
            )
        )
        if mode is ThrottleMode.ENFORCE:
            raise TooManyAttempts(SUSPICIOUS_IP_MESSAGE)

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        return None

    def after_password_change(self, user: User, context: AccountContext) -> None:
        self._releases.release_account(user, ReleasedBy(PASSWORD_CHANGE, context.request))
