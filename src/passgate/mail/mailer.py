"""Outgoing email: reset links, unblock links, administrator alerts.

Two transports implement :class:`Mailer`:

* :class:`OutboxMailer`, the embedded default: every message becomes one RFC 5322 ``.eml``
  file in the outbox folder of the data directory, written atomically (a temporary file,
  then a rename), so nothing is needed to run passgate and a developer can open the mail.
* :class:`SmtpMailer`, when ``PASSGATE_SMTP_URL`` is set:
  ``smtp://[user:password@]host[:port][?starttls=true][&timeout=10]`` or ``smtps://``
  (implicit TLS). Credentials are never sent in clear text except to a loopback host,
  and never appear in a log line, an error or a ``repr``.

``send`` is blocking: call it from a worker thread, not the event loop. Every failure
raises :class:`MailError`.
"""

from __future__ import annotations

import dataclasses
import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from passgate.domain.clock import Clock, system_clock
from passgate.errors import PassgateError
from passgate.support.crypto import new_id
from passgate.support.urls import check_smtp_url, parse_smtp_url

if TYPE_CHECKING:
    from passgate.settings import Settings

__all__ = [
    "MailError",
    "Mailer",
    "OutboxMailer",
    "OutgoingMail",
    "SmtpMailer",
    "build_message",
    "check_smtp_url",
    "mailer_from_settings",
]


class MailError(PassgateError):
    """A message could not be handed over (outbox not writable, SMTP server failing)."""


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One message to one recipient: a plain-text body and, optionally, an HTML one."""

    to: str
    subject: str
    text: str
    html: str | None = None

    def __post_init__(self) -> None:
        for name in ("to", "subject"):
            value = getattr(self, name)
            if not value or "\r" in value or "\n" in value:
                raise ValueError(f"{name} must be one non-empty line")


class Mailer(Protocol):
    def send(self, message: OutgoingMail) -> None:
        """Hand ``message`` over for delivery, or raise :class:`MailError`."""


def build_message(mail: OutgoingMail, sender: str, *, now: float | None = None) -> EmailMessage:
    """The RFC 5322 message: ``multipart/alternative`` when there is an HTML body."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(now, usegmt=True)
    domain = sender.rpartition("@")[2].strip("<> ") or "passgate.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


class OutboxMailer:
    """Writes each message as ``<time>-<random>.eml`` into ``directory``."""

    def __init__(self, directory: Path, sender: str, *, clock: Clock = system_clock) -> None:
        self.directory = Path(directory)
        self._sender = sender
        self._clock = clock

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.directory)!r})"

    def send(self, message: OutgoingMail) -> None:
        now = self._clock()
        # CRLF line ends, and UTF-8 headers left as they are (internationalised addresses).
        data = build_message(message, self._sender, now=now).as_bytes(policy=SMTPUTF8)
        name = f"{int(now * 1_000_000):017d}-{new_id(nbytes=6)}.eml"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.directory / name)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MailError(f"cannot write to the outbox {self.directory}: {exc.strerror}") from exc


class SmtpMailer:
    """Delivers through an SMTP server, one connection per message."""

    def __init__(
        self,
        url: str,
        sender: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._target = parse_smtp_url(url)
        self._sender = sender
        self._ssl = ssl_context
        self._clock = clock

    def __repr__(self) -> str:
        return f"SmtpMailer({self._target.display!r})"

    def _context(self) -> ssl.SSLContext:
        return self._ssl if self._ssl is not None else ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        target = self._target
        if target.implicit_tls:
            return smtplib.SMTP_SSL(
                target.host, target.port, timeout=target.timeout, context=self._context()
            )
        return smtplib.SMTP(target.host, target.port, timeout=target.timeout)

    def send(self, message: OutgoingMail) -> None:
        target = self._target
        email = build_message(message, self._sender, now=self._clock())
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if target.starttls:
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if target.username:
                    smtp.login(target.username, target.password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP server {target.display} refused the credentials ({exc.smtp_code})"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"SMTP server {target.display} answered {exc.smtp_code} "
                f"{_reply_text(exc.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            # ``from None``: a chained exception could carry the AUTH exchange.
            raise MailError(
                f"cannot send mail via {target.display}: {type(exc).__name__}: {_reply_text(exc)}"
            ) from None
        if refused:
            raise MailError(f"SMTP server {target.display} refused the recipient")


def _reply_text(value: object, limit: int = 200) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(str(value).split())
    return text[:limit]


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when ``smtp_url`` is set, else the outbox folder of the data directory."""
    if settings.smtp_url is not None:
        return SmtpMailer(settings.smtp_url.get_secret_value(), settings.mail_from)
    return OutboxMailer(settings.outbox_dir, settings.mail_from)
