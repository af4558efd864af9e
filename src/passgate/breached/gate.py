"""Breached-password detection at login, sign-up and password change (SPEC §5).

:class:`BreachedPasswords` is the token service's :class:`~passgate.oauth.service.BreachedGate`
(``check_login``, called in a worker thread right after a successful password verification)
and holds the sign-up and password-change checks that :class:`BreachedAccountHooks` plugs
into :class:`~passgate.accounts.service.Accounts`.

Each check first *decides* (policy, then :meth:`BreachedChecker.check
<passgate.breached.checker.BreachedChecker.check>`), and only then *does*. So an upstream
range API that cannot answer under ``on_unavailable="refuse"`` raises
:class:`~passgate.breached.errors.BreachedUpstreamUnavailable` (503) before anything was
written, marked, logged or sent.

For a breached password, with the policy enabled:

- login, shield ``block``: the user is marked (``password_leaked``), so later password logins
  are refused before any check until the password changes (even if the corpus drops the
  hash meanwhile), and :class:`~passgate.errors.PasswordLeaked` (401) is raised;
- sign-up / password change, stage shield ``block``: ``PasswordLeaked``, which
  :class:`~passgate.accounts.service.Accounts` answers 400 ``password_leaked``;
- without ``block``: monitoring, the request goes through;
- in every case an event (``pwd_leak``, ``signup_pwd_leak``, ``reset_pwd_leak``) and, per
  the shields, a reset link to the user (``user_notification``, login only) and an alert to
  the administrators (``admin_notification``, at the configured frequencies).

Events and notifications go out at most once per hour per IP address (``OnceMarks``), as
Auth0 does and the issue asks: a flood from one address cannot flood the log or the
mailboxes. (The refusal itself and the account's mark apply every time.) Events carry
decisions, never the password or its count.

Composing the account hooks with attack protection's: pass those as ``inner``; they run
first (a throttled request is refused before any breached check)::

    hooks = BreachedAccountHooks(passgate.breached, inner=protection_hooks)
    accounts = Accounts(..., hooks=hooks)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from passgate.accounts.service import AccountContext, AccountHooks
from passgate.breached.checker import BreachedChecker, BreachedResult
from passgate.breached.notify import BreachedNotifier, BreachNotice
from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.login import RequestContext
from passgate.domain.models import User
from passgate.domain.policy import BreachedPasswordPolicy
from passgate.errors import PasswordLeaked
from passgate.oauth.password_login import BreachedGate
from passgate.storage.counters import OnceMarks

__all__ = ["NOTICE_INTERVAL_S", "BreachedAccountHooks", "BreachedPasswords", "LeakMarks"]

logger = logging.getLogger("passgate.breached")

#: Events and notifications: at most one per this many seconds per IP.
NOTICE_INTERVAL_S = 3600.0


class LeakMarks(Protocol):
    """The part of :class:`~passgate.storage.directory.Directory` the login stage needs."""

    def mark_password_leaked(self, user_id: str) -> bool: ...


class BreachedPasswords(BreachedGate):
    """The breached-password stages; thread-safe, blocking (run it in a worker thread)."""

    def __init__(
        self,
        checker: BreachedChecker,
        *,
        policies: Callable[[], BreachedPasswordPolicy],
        users: LeakMarks,
        events: EventSink,
        marks: OnceMarks,
        notifier: BreachedNotifier,
        clock: Clock,
        notice_interval_s: float = NOTICE_INTERVAL_S,
    ) -> None:
        self.checker = checker
        self.notifier = notifier
        self._policies = policies
        self._users = users
        self._events = events
        self._marks = marks
        self._clock = clock
        self.notice_interval_s = notice_interval_s

    def close(self) -> None:
        """Finish pending notifications, then unmap the index and close the upstream client."""
        self.notifier.close()
        self.checker.close()

    # -- stages --------------------------------------------------------------------
    def check_login(self, user: User, password: str, context: RequestContext) -> None:
        """Refuse (``PasswordLeaked``) or report a breached password at login."""
        policy = self._policies()
        if not policy.enabled:
            return
        result = self.checker.check(password)
        if not result.breached:
            return
        block = "block" in policy.shields
        if block:
            self._users.mark_password_leaked(user.id)
        notice = self._notice("pwd_leak", context, block, user.connection, user.id, user.email)
        if self._report(notice, context, result, policy.shields):
            if "user_notification" in policy.shields:
                self.notifier.notify_user(user, client_id=context.client_id, blocked=block)
            if "admin_notification" in policy.shields:
                self.notifier.notify_admins(notice, policy.admin_notification_frequency)
        if block:
            raise PasswordLeaked()

    def check_signup(self, email: str, password: str, context: AccountContext) -> None:
        """The pre-user-registration stage."""
        policy = self._policies()
        if policy.enabled:
            shields = policy.pre_user_registration_shields
            self._stage("signup_pwd_leak", password, context, None, email, shields, policy)

    def check_password_change(self, user: User, password: str, context: AccountContext) -> None:
        """The pre-change-password stage (the new password)."""
        policy = self._policies()
        if policy.enabled:
            shields = policy.pre_change_password_shields
            self._stage("reset_pwd_leak", password, context, user.id, user.email, shields, policy)

    # -- shared --------------------------------------------------------------------
    def _stage(
        self,
        kind: str,
        password: str,
        context: AccountContext,
        user_id: str | None,
        user_name: str,
        shields: Sequence[str],
        policy: BreachedPasswordPolicy,
    ) -> None:
        result = self.checker.check(password)
        if not result.breached:
            return
        block = "block" in shields
        notice = self._notice(kind, context.request, block, context.connection, user_id, user_name)
        reported = self._report(notice, context.request, result, shields)
        if reported and "admin_notification" in shields:
            self.notifier.notify_admins(notice, policy.admin_notification_frequency)
        if block:
            raise PasswordLeaked()

    def _notice(
        self,
        kind: str,
        context: RequestContext,
        blocked: bool,
        connection: str | None,
        user_id: str | None,
        user_name: str | None,
    ) -> BreachNotice:
        return BreachNotice(
            type=kind,
            date=self._clock(),
            ip=context.ip,
            blocked=blocked,
            user_name=user_name,
            user_id=user_id,
            connection=connection,
            client_id=context.client_id,
            client_name=context.client_name,
        )

    def _report(
        self,
        notice: BreachNotice,
        context: RequestContext,
        result: BreachedResult,
        shields: Sequence[str],
    ) -> bool:
        """Write the event, once an hour per IP; True when it was written (then the
        notifications go out too)."""
        key = f"{notice.type}:{notice.ip}"
        try:
            first = self._marks.once(key, ttl_s=self.notice_interval_s, now=notice.date)
        except Exception:
            # Counters unavailable: keep the event (it is the record) but skip the emails,
            # which could not be rate limited.
            logger.exception("breached-password notice marks unavailable: event only")
            self._emit(notice, context, result, shields)
            return False
        if first:
            self._emit(notice, context, result, shields)
        return first

    def _emit(
        self,
        notice: BreachNotice,
        context: RequestContext,
        result: BreachedResult,
        shields: Sequence[str],
    ) -> None:
        self._events.emit(
            Event(
                type=notice.type,
                date=notice.date,
                **context.event_fields(),
                connection=notice.connection,
                user_id=notice.user_id,
                user_name=notice.user_name,
                details={
                    "stage": _STAGE_NAMES[notice.type],
                    "action": "blocked" if notice.blocked else "allowed",
                    "shields": list(shields),
                    "source": result.source,
                },
            )
        )


_STAGE_NAMES = {
    "pwd_leak": "login",
    "signup_pwd_leak": "pre-user-registration",
    "reset_pwd_leak": "pre-change-password",
}


class BreachedAccountHooks:
    """:class:`~passgate.accounts.service.AccountHooks` for the sign-up and password-change stages.

    ``inner`` (attack protection's hooks, say) runs first; ``after_password_change`` is
    only passed on (a new password already lifts the breached-password mark).
    """

    def __init__(self, breached: BreachedPasswords, *, inner: AccountHooks | None = None) -> None:
        self.breached = breached
        self.inner = inner

    def before_signup(self, email: str, password: str, context: AccountContext) -> None:
        if self.inner is not None:
            self.inner.before_signup(email, password, context)
        self.breached.check_signup(email, password, context)

    def before_password_change(self, user: User, password: str, context: AccountContext) -> None:
        if self.inner is not None:
            self.inner.before_password_change(user, password, context)
        self.breached.check_password_change(user, password, context)

    def after_password_change(self, user: User, context: AccountContext) -> None:
        if self.inner is not None:
            self.inner.after_password_change(user, context)
