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
import ipaddress
import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from passgate.clock import Clock, system_clock
from passgate.crypto import new_id
from passgate.errors import ConfigurationError, PassgateError

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

DEFAULT_TIMEOUT_S = 10.0
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


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


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name, [])
    if not values:
        return False
    value = values[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"SMTP URL: {name} must be true or false")


@dataclasses.dataclass(frozen=True, slots=True)
class _SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    timeout: float
    username: str | None
    password: str | None = dataclasses.field(repr=False)

    @property
    def display(self) -> str:
        """The URL without its credentials, for messages."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def check_smtp_url(url: str) -> None:
    """Refuse what :class:`SmtpMailer` would refuse; the ``ValueError`` never repeats the
    URL (it may hold a password)."""
    try:
        _parse_smtp_url(url)
    except ConfigurationError as exc:
        raise ValueError(str(exc).removeprefix("SMTP URL: ").removeprefix("SMTP URL ")) from None


def _parse_smtp_url(url: str) -> _SmtpTarget:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError("SMTP URL: malformed host or port") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigurationError("SMTP URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ConfigurationError("SMTP URL: a host is needed")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise ConfigurationError(f"SMTP URL: unknown option {unknown[0]!r}")
    implicit_tls = scheme == "smtps"
    starttls = _flag(query, "starttls")
    if implicit_tls and starttls:
        raise ConfigurationError("SMTP URL: smtps:// already uses TLS; drop starttls")
    timeout = DEFAULT_TIMEOUT_S
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError as exc:
            raise ConfigurationError("SMTP URL: timeout must be a number of seconds") from exc
        if not 0 < timeout <= 300:
            raise ConfigurationError("SMTP URL: timeout must be between 0 and 300 seconds")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ConfigurationError("SMTP URL: a password needs a user name")
    if username and not (implicit_tls or starttls) and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            "SMTP URL: refusing to send credentials in clear text; "
            "use smtps:// or add ?starttls=true"
        )
    return _SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        timeout=timeout,
        username=username,
        password=password,
    )


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
        self._target = _parse_smtp_url(url)
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
