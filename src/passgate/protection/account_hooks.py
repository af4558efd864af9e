"""Attack protection for sign-up and password change (SPEC §4, §3).

- Every well-formed sign-up takes a token from its IP's ``pre-user-registration``
  bucket; an empty bucket refuses it (``block`` shield) with 429 and logs ``limit_mu``.
- A password change releases every brute-force block of the user's email and username
  (event ``ublkdu``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from passgate.accounts.service import AccountContext
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.identifiers import identifier_subjects
from passgate.domain.ip_throttle import (
    PRE_USER_REGISTRATION,
    ThrottleMode,
    rate_seconds,
    throttle_mode,
)
from passgate.domain.models import User
from passgate.errors import SUSPICIOUS_IP_MESSAGE, TooManyAttempts
from passgate.protection.guard import PolicySource
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
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self._counters = counters
        self._policies = policies
        self._events = events
        self._clock = clock
        self._on_release = on_release

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
        self.release_account_blocks(
            user,
            released_by="password change",
            connection=context.connection,
            **context.request.event_fields(),
        )

    def release_account_blocks(self, user: User, *, released_by: str, **fields: Any) -> int:
        """Release every brute-force block of the user's account (a new password ends
        them), and log ``ublkdu`` when there was one; return how many keys had failures.
        ``fields`` are the event's request fields (none from the command line)."""
        subjects = identifier_subjects(user.connection, [user.email, user.username], user.id)
        released = self._counters.remove_blocks(subjects)
        if self._on_release is not None:
            self._on_release()
        if released:
            fields.setdefault("connection", user.connection)
            self._events.emit(
                Event(
                    type="ublkdu",
                    date=self._clock(),
                    user_id=user.id,
                    user_name=user.email,
                    **fields,
                    details={"released_by": released_by, "keys": released},
                )
            )
        return released
