"""Email: the outbox folder (embedded default) and SMTP against a real local server."""

from __future__ import annotations

import dataclasses
import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from passgate.errors import ConfigurationError
from passgate.mail.mailer import (
    MailError,
    OutboxMailer,
    OutgoingMail,
    SmtpMailer,
    build_message,
    mailer_from_settings,
)
from passgate.settings import Settings

SENDER = "passgate@example.test"
USER, PASSWORD = "mailer", "s3cret-smtp-pass"
TEXT = "Open https://id.example/reset-password?ticket=abc\n"
HTML = '<p><a href="https://id.example/reset-password?ticket=abc">Reset</a></p>'
MAIL = OutgoingMail(to="user@example.com", subject="Reset your password", text=TEXT, html=HTML)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str | None]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None

    def content(part: Any) -> str:
        return str(part.get_content()).replace("\r\n", "\n")

    return content(text), None if html is None else content(html)


# -- messages and the outbox -----------------------------------------------------------
def test_a_message_has_the_rfc_5322_headers_and_both_bodies() -> None:
    message = build_message(MAIL, SENDER, now=1_800_000_000.0)
    assert message["From"] == SENDER
    assert message["To"] == "user@example.com"
    assert message["Subject"] == "Reset your password"
    assert parsedate_to_datetime(message["Date"]).timestamp() == 1_800_000_000.0
    assert message["Message-ID"].endswith("@example.test>")
    assert message.get_content_type() == "multipart/alternative"
    assert bodies(message) == (TEXT, HTML + "\n")


def test_a_text_only_message_is_plain_text() -> None:
    message = build_message(dataclasses.replace(MAIL, html=None), SENDER)
    assert message.get_content_type() == "text/plain"


@pytest.mark.parametrize("field", ["to", "subject"])
def test_header_fields_must_be_one_line(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(MAIL, **{field: "a\r\nBcc: victim@example.com"})


def test_the_outbox_holds_one_parseable_eml_file_per_message(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "outbox"
    mailer = OutboxMailer(outbox, SENDER)
    mailer.send(MAIL)
    mailer.send(dataclasses.replace(MAIL, to="other@example.com"))
    files = sorted(outbox.iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]  # no temporary file left
    first = parse(files[0].read_bytes())
    assert first["To"] == "user@example.com"
    assert first["From"] == SENDER
    assert first["Subject"] == "Reset your password"
    assert bodies(first)[0] == TEXT
    assert parse(files[1].read_bytes())["To"] == "other@example.com"


def test_an_unwritable_outbox_raises_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailError, match="outbox"):
        OutboxMailer(blocker, SENDER).send(MAIL)


def test_settings_choose_the_outbox_by_default_and_smtp_when_configured(tmp_path: Path) -> None:
    outbox = mailer_from_settings(Settings(data_dir=tmp_path, smtp_url=None))
    assert isinstance(outbox, OutboxMailer)
    assert outbox.directory == tmp_path / "outbox"
    smtp = mailer_from_settings(
        Settings(data_dir=tmp_path, smtp_url=SecretStr(f"smtps://{USER}:{PASSWORD}@mx.example"))
    )
    assert isinstance(smtp, SmtpMailer)
    assert PASSWORD not in repr(smtp)


# -- SMTP URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mx.example", "smtp:// or smtps://"),
        ("smtp://", "a host"),
        ("smtp://mx.example:99999", "port"),
        (f"smtp://{USER}:{PASSWORD}@mx.example", "clear text"),
        ("smtps://mx.example?starttls=true", "already uses TLS"),
        ("smtp://mx.example?starttls=maybe", "true or false"),
        ("smtp://mx.example?timeout=0", "timeout"),
        ("smtp://mx.example?timeout=soon", "timeout"),
        ("smtp://mx.example?tls=1", "unknown option"),
    ],
)
def test_smtp_urls_are_checked(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        SmtpMailer(url, SENDER)
    assert PASSWORD not in str(caught.value)


def test_credentials_may_go_in_clear_text_to_a_loopback_server_only() -> None:
    SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:2525", SENDER)
    SmtpMailer(f"smtp://{USER}:{PASSWORD}@mx.example?starttls=true", SENDER)


# -- a real SMTP server ------------------------------------------------------------------
class Collector:
    """The server's handler and authenticator: keeps messages and successful logins."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[str] = []

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok, handled=False)  # False: the server answers 535

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def message(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        return parse(content)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass
class Server:
    port: int
    collector: Collector


ServerFactory = Callable[..., Server]


@pytest.fixture
def smtp_server() -> Iterator[ServerFactory]:
    """Starts aiosmtpd servers on free loopback ports; stops them afterwards."""
    controllers: list[Controller] = []

    def start(*, auth: bool = False, **options: Any) -> Server:
        collector = Collector()
        port = free_port()
        if auth:
            options["authenticator"] = collector.authenticate
        controller = Controller(collector, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(port=port, collector=collector)

    yield start
    for controller in controllers:
        controller.stop()


@dataclasses.dataclass
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return Certificate(server=server, client=client)


def test_smtp_delivers_the_message_to_a_real_server(smtp_server: ServerFactory) -> None:
    server = smtp_server()
    SmtpMailer(f"smtp://127.0.0.1:{server.port}", SENDER).send(MAIL)
    [envelope] = server.collector.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["user@example.com"]
    message = server.collector.message()
    assert message["Subject"] == "Reset your password"
    assert bodies(message) == (TEXT, HTML + "\n")


def test_smtp_authenticates_with_the_url_credentials(smtp_server: ServerFactory) -> None:
    server = smtp_server(auth=True, auth_require_tls=False)
    SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{server.port}", SENDER).send(MAIL)
    assert server.collector.logins == [USER]
    assert len(server.collector.envelopes) == 1


def test_refused_credentials_raise_mail_error_without_the_password(
    smtp_server: ServerFactory,
) -> None:
    server = smtp_server(auth=True, auth_require_tls=False)
    mailer = SmtpMailer(f"smtp://{USER}:wrong-password@127.0.0.1:{server.port}", SENDER)
    with pytest.raises(MailError, match="refused the credentials") as caught:
        mailer.send(MAIL)
    assert "wrong-password" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert server.collector.envelopes == []


def test_smtp_upgrades_with_starttls(smtp_server: ServerFactory, certificate: Certificate) -> None:
    server = smtp_server(
        auth=True, tls_context=certificate.server, require_starttls=True, auth_required=True
    )
    url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{server.port}?starttls=true"
    SmtpMailer(url, SENDER, ssl_context=certificate.client).send(MAIL)
    assert server.collector.logins == [USER]
    assert len(server.collector.envelopes) == 1


def test_smtps_uses_implicit_tls(smtp_server: ServerFactory, certificate: Certificate) -> None:
    # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from the start.
    server = smtp_server(auth=True, ssl_context=certificate.server, auth_require_tls=False)
    url = f"smtps://{USER}:{PASSWORD}@127.0.0.1:{server.port}"
    SmtpMailer(url, SENDER, ssl_context=certificate.client).send(MAIL)
    assert server.collector.logins == [USER]
    assert len(server.collector.envelopes) == 1


def test_an_untrusted_certificate_is_refused(
    smtp_server: ServerFactory, certificate: Certificate
) -> None:
    server = smtp_server(ssl_context=certificate.server)
    with pytest.raises(MailError, match="SSL"):
        SmtpMailer(f"smtps://127.0.0.1:{server.port}?timeout=5", SENDER).send(MAIL)


def test_an_unreachable_server_raises_mail_error() -> None:
    mailer = SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}?timeout=2", SENDER)
    with pytest.raises(MailError, match="cannot send mail") as caught:
        mailer.send(MAIL)
    assert PASSWORD not in str(caught.value)
