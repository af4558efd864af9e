"""Emails that attack protection sends: unblock links to users, alerts to administrators.

Best effort: a mail failure is logged and never changes the answer of a login.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from urllib.parse import quote

from passgate.accounts.tickets import Tickets
from passgate.domain.login import LoginAttempt
from passgate.mail.mailer import Mailer, OutgoingMail
from passgate.storage.counters import AttemptKey
from passgate.storage.directory import Directory

__all__ = ["UNBLOCK_KIND", "UNBLOCK_TTL_S", "MailNotifier"]

logger = logging.getLogger("passgate.protection")

UNBLOCK_KIND = "unblock"
UNBLOCK_TTL_S = 24 * 3600.0


class MailNotifier:
    def __init__(
        self,
        *,
        mailer: Mailer,
        tickets: Tickets,
        directory: Directory,
        base_url: str,
        admin_emails: Callable[[], Sequence[str]],
    ) -> None:
        self._mailer = mailer
        self._tickets = tickets
        self._directory = directory
        self._base_url = base_url.rstrip("/")
        self._admin_emails = admin_emails

    def account_blocked(self, key: AttemptKey, attempt: LoginAttempt) -> None:
        try:
            user = self._directory.get_user(key.user_id) if key.user_id is not None else None
            if user is None:
                return  # nobody to tell: the identifier matches no account
            token = self._tickets.issue(
                UNBLOCK_KIND,
                {
                    "identifier": key.label,
                    "subject": key.subject,
                    "ip": key.ip,
                    "connection": key.connection,
                    "user_id": user.id,
                },
                UNBLOCK_TTL_S,
            )
            link = f"{self._base_url}/unblock?ticket={quote(token)}"
            where = f" from the IP address {key.ip}" if key.ip else ""
            self._mailer.send(
                OutgoingMail(
                    to=user.email,
                    subject="Your account has been blocked",
                    text=(
                        f"We blocked logins to your account{where} after several failed "
                        "attempts in a row.\n\n"
                        f"If it was you, unblock your account here (the link works once, "
                        f"for 24 hours):\n{link}\n\n"
                        "If it was not you, change your password.\n"
                    ),
                )
            )
        except Exception:
            logger.exception("could not send the unblock email")

    def ip_throttled(self, ip: str, attempt: LoginAttempt) -> None:
        try:
            for address in self._admin_emails():
                self._mailer.send(
                    OutgoingMail(
                        to=address,
                        subject=f"passgate: suspicious IP throttled: {ip}",
                        text=(
                            f"Logins from {ip} failed across accounts faster than the "
                            "suspicious IP throttling policy allows; further attempts from "
                            "it are refused until its bucket refills.\n\n"
                            f"Release it with: passgate ip-blocks remove {ip}\n"
                        ),
                    )
                )
        except Exception:
            logger.exception("could not send the suspicious IP alert")
