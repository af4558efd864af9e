"""Emails about breached passwords: reset links to users, alerts and digests to administrators.

:class:`BreachedNotifier` is told about each detection (a :class:`BreachNotice`, which
never holds the password) and does the slow part off the request path, in a thread of its
own: a login's answer never waits for an SMTP server, and a mail failure is logged, never
turned into an error.

- ``user_notification``: the user gets a password-reset link, the same single-use ticket
  (kind :data:`~passgate.accounts.service.RESET_KIND`) and ``/reset-password`` page as
  ``POST /dbconnections/change_password`` uses, valid :data:`RESET_LINK_TTL_S`.
- ``admin_notification``, frequency ``immediately``: one email per administrator now.
- frequency ``daily`` / ``weekly`` / ``monthly``: the notice is queued in
  ``pending_notifications`` (kind ``breached:<frequency>``), and
  :meth:`BreachedNotifier.send_due_digests` sends one digest per period (UTC days, ISO
  weeks from Monday, calendar months) with everything queued before the current period.

``send_due_digests`` is safe to run from every worker of every instance at once: each
period is first claimed with ``OnceMarks.once("breached-digest:<frequency>:<period>")``
(one atomic operation of the counters backend, so one sender wins), and the winner takes
the rows with one ``DELETE ... RETURNING`` (so no row is ever sent twice, even by a sender
whose clock disagrees). Every server process runs it every few minutes (see
``passgate.app``); the CLI can call it directly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from passgate.accounts.service import RESET_KIND
from passgate.accounts.tickets import Tickets
from passgate.domain.clock import Clock
from passgate.domain.models import User
from passgate.errors import StorageError
from passgate.mail.mailer import Mailer, MailError, OutgoingMail
from passgate.storage.counters import OnceMarks
from passgate.storage.schema import pending_notifications

__all__ = [
    "DIGEST_FREQUENCIES",
    "RESET_LINK_TTL_S",
    "BreachNotice",
    "BreachedNotifier",
    "digest_kind",
    "period_start",
]

logger = logging.getLogger("passgate.breached")

DIGEST_FREQUENCIES = ("daily", "weekly", "monthly")
#: How long the reset link of a breach email works (the user may read it the next day).
RESET_LINK_TTL_S = 24 * 3600.0
#: How long a digest claim is kept: past the end of the period it names.
_CLAIM_TTL_S = {"daily": 2 * 86400.0, "weekly": 8 * 86400.0, "monthly": 32 * 86400.0}
_STAGES = {
    "pwd_leak": "login",
    "signup_pwd_leak": "sign-up",
    "reset_pwd_leak": "password change",
}

_pn = pending_notifications


def digest_kind(frequency: str) -> str:
    """The ``pending_notifications.kind`` of notices waiting for a ``frequency`` digest."""
    return f"breached:{frequency}"


def period_start(frequency: str, now: float) -> datetime:
    """The start (UTC) of the ``frequency`` period holding ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "daily":
        return day
    if frequency == "weekly":
        return day - timedelta(days=day.weekday())
    if frequency == "monthly":
        return day.replace(day=1)
    raise ValueError(f"not a digest frequency: {frequency!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class BreachNotice:
    """One detection as administrators see it. Never holds the password."""

    #: The event type: ``pwd_leak``, ``signup_pwd_leak`` or ``reset_pwd_leak``.
    type: str
    date: float
    ip: str
    blocked: bool
    user_name: str | None = None
    user_id: str | None = None
    connection: str | None = None
    client_id: str | None = None
    client_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BreachNotice:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in names})

    def line(self) -> str:
        when = datetime.fromtimestamp(self.date, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        stage = _STAGES.get(self.type, self.type)
        who = self.user_name or self.user_id or "(unknown)"
        where = f" in {self.connection}" if self.connection else ""
        via = f" via {self.client_name or self.client_id}" if self.client_id else ""
        action = "refused" if self.blocked else "allowed (monitoring only)"
        return f"{when}  {stage}  {who}{where}  from {self.ip}{via}: {action}"


class BreachedNotifier:
    """Sends and queues breached-password notifications; thread-safe.

    With ``background`` (the default) the work runs in one thread of its own, in order;
    :meth:`drain` waits for it (tests), :meth:`close` drains then stops the thread.
    """

    def __init__(
        self,
        *,
        engine: sa.Engine,
        mailer: Mailer,
        tickets: Tickets,
        marks: OnceMarks,
        public_url: str,
        admin_emails: Callable[[], Sequence[str]],
        clock: Clock,
        background: bool = True,
    ) -> None:
        self._engine = engine
        self._mailer = mailer
        self._tickets = tickets
        self._marks = marks
        self.public_url = public_url.rstrip("/")
        self._admin_emails = admin_emails
        self._clock = clock
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="passgate-breached-mail")
            if background
            else None
        )
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    # -- dispatch ------------------------------------------------------------------
    def _submit(self, work: Callable[[], None], what: str) -> None:
        def guarded() -> None:
            try:
                work()
            except Exception:
                logger.exception("breached-password notification failed: %s", what)

        if self._executor is None:
            guarded()
            return
        future = self._executor.submit(guarded)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def drain(self, timeout: float | None = 30.0) -> None:
        """Wait until every notification handed over so far is done."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # -- per detection -------------------------------------------------------------
    def notify_user(self, user: User, *, client_id: str | None, blocked: bool) -> None:
        """Email ``user`` a password-reset link (``user_notification``)."""
        self._submit(
            lambda: self._send_reset_link(user, client_id, blocked), f"reset link to {user.id}"
        )

    def notify_admins(self, notice: BreachNotice, frequencies: Sequence[str]) -> None:
        """Alert the administrators now (``immediately``) and/or queue for digests."""
        self._submit(lambda: self._admins(notice, frequencies), f"admin alert ({notice.type})")

    def reset_link(self, user: User, *, client_id: str | None) -> str:
        """A new single-use link to the reset page for ``user`` (issues a ticket)."""
        payload = {
            "user_id": user.id,
            "client_id": client_id,
            "password_changed_at": user.password_changed_at,
        }
        ticket = self._tickets.issue(RESET_KIND, payload, RESET_LINK_TTL_S)
        return f"{self.public_url}/reset-password?{urlencode({'ticket': ticket})}"

    def _send_reset_link(self, user: User, client_id: str | None, blocked: bool) -> None:
        link = self.reset_link(user, client_id=client_id)
        hours = round(RESET_LINK_TTL_S / 3600)
        consequence = (
            "To protect you, logins with this password are refused until you choose a new one"
            if blocked
            else "Anyone holding such lists can try it, so please choose a new one now"
        )
        text = (
            "Hello,\n\n"
            f"A login to the account {user.email} just used a password that was previously "
            "disclosed through a data breach (not in this application). "
            f"{consequence}:\n\n"
            f"{link}\n\n"
            f"The link works once, within {hours} hours. Do not use the old password "
            "anywhere else either.\n"
        )
        self._mailer.send(
            OutgoingMail(to=user.email, subject="Please change your password", text=text)
        )

    def _admins(self, notice: BreachNotice, frequencies: Sequence[str]) -> None:
        if "immediately" in frequencies:
            subject = f"passgate: breached password used ({_STAGES.get(notice.type, notice.type)})"
            text = (
                "A password known from a data breach was used:\n\n"
                f"{notice.line()}\n\n"
                "Change how often these alerts come with the admin_notification_frequency "
                "of the breached-password detection settings.\n"
            )
            self._send_to_admins(subject, text)
        queued = [
            {"kind": digest_kind(frequency), "payload": json.dumps(notice.to_json())}
            for frequency in frequencies
            if frequency in DIGEST_FREQUENCIES
        ]
        if queued:
            rows = [{**row, "created_at": notice.date} for row in queued]
            try:
                with self._engine.begin() as db:
                    db.execute(_pn.insert(), rows)
            except sa.exc.SQLAlchemyError as exc:
                raise StorageError(f"cannot queue a notification: {type(exc).__name__}") from exc

    def _send_to_admins(self, subject: str, text: str) -> bool:
        """Send to every administrator; True when at least one message went out."""
        addresses = list(self._admin_emails())
        if not addresses:
            logger.warning("no admin_emails tenant setting: an administrator alert is not sent")
            return False
        sent = False
        for address in addresses:
            try:
                self._mailer.send(OutgoingMail(to=address, subject=subject, text=text))
                sent = True
            except (MailError, ValueError) as exc:
                logger.warning("administrator alert to %s not sent: %s", address, exc)
        return sent

    # -- digests -------------------------------------------------------------------
    def send_due_digests(self, now: float) -> list[str]:
        """Send the digests whose period ended before ``now``; return their frequencies.

        Each period is sent once, whichever of several concurrent callers gets there first.
        """
        sent: list[str] = []
        for frequency in DIGEST_FREQUENCIES:
            start = period_start(frequency, now)
            claim = f"breached-digest:{frequency}:{start.date().isoformat()}"
            if not self._marks.once(claim, ttl_s=_CLAIM_TTL_S[frequency], now=now):
                continue
            rows = self._take(digest_kind(frequency), before=start.timestamp())
            if not rows:
                continue
            if self._send_digest(frequency, start, rows):
                sent.append(frequency)
            else:
                self._requeue(digest_kind(frequency), rows)
        return sent

    def _take(self, kind: str, *, before: float) -> list[tuple[float, str]]:
        """Delete and return the queued rows of ``kind`` created before ``before``."""
        condition = sa.and_(_pn.c.kind == kind, _pn.c.created_at < before)
        found: Sequence[Any]
        try:
            with self._engine.begin() as db:
                if db.dialect.delete_returning:
                    statement = (
                        _pn.delete().where(condition).returning(_pn.c.created_at, _pn.c.payload)
                    )
                    found = db.execute(statement).all()
                else:  # pragma: no cover - SQLite before 3.35
                    found = db.execute(
                        sa.select(_pn.c.id, _pn.c.created_at, _pn.c.payload).where(condition)
                    ).all()
                    db.execute(_pn.delete().where(_pn.c.id.in_([row.id for row in found])))
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"cannot take queued notifications: {type(exc).__name__}") from exc
        return sorted((float(row.created_at), str(row.payload)) for row in found)

    def _requeue(self, kind: str, rows: list[tuple[float, str]]) -> None:
        """Put back rows whose digest could not be sent: the next period's digest has them."""
        try:
            with self._engine.begin() as db:
                db.execute(
                    _pn.insert(),
                    [{"kind": kind, "payload": payload, "created_at": at} for at, payload in rows],
                )
        except sa.exc.SQLAlchemyError:
            logger.exception("%d breached-password notices could not be queued again", len(rows))

    def _send_digest(self, frequency: str, start: datetime, rows: list[tuple[float, str]]) -> bool:
        notices = [BreachNotice.from_json(json.loads(payload)) for _, payload in rows]
        refused = sum(1 for notice in notices if notice.blocked)
        subject = (
            f"passgate: {len(notices)} breached password"
            f"{'s' if len(notices) != 1 else ''} used ({frequency} digest)"
        )
        text = (
            f"Passwords known from data breaches were used {len(notices)} time"
            f"{'s' if len(notices) != 1 else ''} before {start:%Y-%m-%d %H:%M}Z "
            f"({refused} refused):\n\n" + "\n".join(notice.line() for notice in notices) + "\n"
        )
        return self._send_to_admins(subject, text)
