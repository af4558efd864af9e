"""``passgate serve`` over https (``--tls-cert``/``--tls-key`` or their settings), as real
processes with a test CA: the issuer its first start fixes is ``https://``, tokens and keys
are served to a client that trusts only that CA, plain http on the port gets nothing, and
every unusable pair of files is refused in one line with exit status 2 before anything else.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import NoEncryption

from tests.certificates import ServerCertificate, new_key, write_key, write_self_signed
from tests.processes import cli, free_port, server_env
from tests.support import refusal_lines
from tests.test_serve import PASSWORD, Server, password_login
from tests.test_serve_instances import decode

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return server_env(tmp_path / "data")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def start_tls(
    env: dict[str, str],
    tmp_path: Path,
    servers: list[Server],
    name: str,
    *args: str,
    command: str = "serve",
) -> tuple[Server, int]:
    """``passgate serve`` (or ``command``) with ``args`` on a free port; not waited for."""
    logs = tmp_path / name
    logs.mkdir()
    port = free_port()
    server = Server(env, logs, command, "--port", str(port), *args)
    servers.append(server)
    return server, port


def test_serve_answers_https_with_two_workers_and_fixes_an_https_issuer(
    env: dict[str, str],
    tmp_path: Path,
    servers: list[Server],
    server_certificate: ServerCertificate,
) -> None:
    cli(env, "apis", "create", "--identifier", API, "--scope", "read:orders")
    client = cli(
        env, "clients", "create", "--name", "Shop", "--grant", "password",
        "--grant", "client_credentials",
    )  # fmt: skip
    cli(
        env, "client-grants", "create", "--client-id", client["client_id"],
        "--audience", API, "--scope", "read:orders",
    )  # fmt: skip
    cli(
        env, "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip
    certificate = server_certificate
    first, port = start_tls(
        env, tmp_path, servers, "first", "--workers", "2",
        "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key),
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}/"
    trust = certificate.client_context()
    first.wait_until_healthy(base, verify=trust)
    assert f"the issuer is {base} (this first serving address)" in first.stderr()

    with httpx.Client(base_url=base, verify=trust, timeout=10.0) as https:
        discovery = https.get(".well-known/openid-configuration").json()
        jwks = https.get(".well-known/jwks.json").json()
        login = https.post(
            "oauth/token",
            data=password_login(client, "alice@example.com", audience=API, scope="openid"),
        )
        machine = https.post(
            "oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
                "audience": API,
            },
        )
    assert discovery["issuer"] == base
    assert discovery["token_endpoint"] == base + "oauth/token"
    assert jwks["keys"]
    assert login.status_code == 200, login.text
    assert machine.status_code == 200, machine.text
    assert decode(login.json()["id_token"], jwks, client["client_id"])["iss"] == base
    assert decode(login.json()["access_token"], jwks, API)["iss"] == base
    assert decode(machine.json()["access_token"], jwks, API)["iss"] == base

    # localhost is in the certificate too; a client that does not trust the CA refuses.
    assert httpx.get(f"https://localhost:{port}/health", verify=trust).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(base + "health", verify=ssl.create_default_context())
    # Plain http to the https port: the handshake fails, no answer, no page.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5.0)

    # A second instance on the same database, configured by the settings, publishes the
    # issuer the first one fixed.
    tls_env = {
        **env,
        "PASSGATE_TLS_CERT": str(certificate.cert),
        "PASSGATE_TLS_KEY": str(certificate.key),
    }
    second, second_port = start_tls(tls_env, tmp_path, servers, "second")
    second_base = f"https://127.0.0.1:{second_port}/"
    second.wait_until_healthy(second_base, verify=trust)
    again = httpx.get(second_base + ".well-known/openid-configuration", verify=trust)
    assert again.json()["issuer"] == base

    for server in (first, second):
        assert server.stop() == 0
        assert "Traceback" not in server.stderr()


def test_quickstart_over_tls_prints_https_addresses_that_work(
    env: dict[str, str],
    tmp_path: Path,
    servers: list[Server],
    server_certificate: ServerCertificate,
) -> None:
    server, port = start_tls(
        env, tmp_path, servers, "quickstart", "--json",
        "--tls-cert", str(server_certificate.cert), "--tls-key", str(server_certificate.key),
        command="quickstart",
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}/"
    trust = server_certificate.client_context()
    server.wait_until_healthy(base, verify=trust)

    document = json.loads(server.stdout())
    assert document["token_endpoint"] == base + "oauth/token"
    assert document["jwks_uri"] == base + ".well-known/jwks.json"
    assert document["curl"].startswith(f"curl -sS {base}oauth/token")
    login = httpx.post(
        document["token_endpoint"],
        data={
            "grant_type": "password",
            "client_id": document["client"]["client_id"],
            "client_secret": document["client"]["client_secret"],
            "username": document["user"]["email"],
            "password": document["user"]["password"],
        },
        verify=trust,
    )
    assert login.status_code == 200, login.text
    assert server.stop() == 0


def _handshake(port: int, version: ssl.TLSVersion, trust: ssl.SSLContext) -> str | None:
    """The cipher a client limited to ``version`` gets, or None when refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=trust.get_ca_certs(binary_form=True)[0])
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: the point is to offer it
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("ALL:@SECLEVEL=0")  # let this client offer it at all
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                cipher = tls.cipher()
                return cipher[0] if cipher else None
        except (ssl.SSLError, ConnectionError):
            return None


def test_tls_1_2_gets_forward_secret_aead_and_older_versions_are_refused(
    env: dict[str, str],
    tmp_path: Path,
    servers: list[Server],
    server_certificate: ServerCertificate,
) -> None:
    """Python's defaults, not uvicorn's old "TLSv1" cipher list: ECDHE with GCM or
    ChaCha20 on TLS 1.2, nothing before it."""
    server, port = start_tls(
        env, tmp_path, servers, "server",
        "--tls-cert", str(server_certificate.cert), "--tls-key", str(server_certificate.key),
    )  # fmt: skip
    trust = server_certificate.client_context()
    server.wait_until_healthy(f"https://127.0.0.1:{port}/", verify=trust)

    tls12 = _handshake(port, ssl.TLSVersion.TLSv1_2, trust)
    assert tls12 is not None
    assert tls12.startswith("ECDHE-"), tls12
    assert "GCM" in tls12 or "CHACHA20" in tls12, tls12
    assert _handshake(port, ssl.TLSVersion.TLSv1_3, trust) is not None
    assert _handshake(port, ssl.TLSVersion.TLSv1_1, trust) is None
    assert server.stop() == 0
    assert "Traceback" not in server.stderr()


# -- refusals ------------------------------------------------------------------------------


def _serve(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "passgate", "serve", "--port", str(free_port()), *args],
        env=server_env(tmp_path / "data", **variables),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refusal(done: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    """The one line of a refusal, after checking that nothing else happened."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = refusal_lines(done.stderr)
    assert len(lines) == 1, lines
    assert not (tmp_path / "data").exists()  # refused before the database was touched
    return lines[0]


@pytest.fixture
def faulty(server_certificate: ServerCertificate) -> dict[str, Path]:
    """Files ``serve`` must refuse, written beside the good certificate and key."""
    folder = server_certificate.cert.parent
    key = serialization.load_pem_private_key(server_certificate.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = ssl.PEM_cert_to_DER_cert(server_certificate.cert.read_text())
    legacy_encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # Proc-Type: 4,ENCRYPTED
        serialization.BestAvailableEncryption(b"secret words"),
    )
    # 1024-bit RSA: cryptography reads it, OpenSSL's security level (Python sets 2) refuses.
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = weak_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, NoEncryption()
    )
    return {
        "good_cert": server_certificate.cert,
        "good_key": server_certificate.key,
        "missing": folder / "nowhere" / "file.pem",
        "folder": folder,
        "empty": _write(folder / "empty.pem", b""),
        "der": _write(folder / "server.der", der),
        "encrypted": write_key(new_key(), folder / "encrypted.key", passphrase=b"secret words"),
        "legacy_encrypted": _write(folder / "legacy-encrypted.key", legacy_encrypted),
        "other_key": write_key(new_key(), folder / "other.key"),
        "weak_key": _write(folder / "weak.key", weak),
        "weak_cert": write_self_signed(weak_key, folder / "weak.pem"),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _refusals(tmp_path: Path, runs: list[tuple[list[str], dict[str, str]]]) -> list[str]:
    """The refusal line of each ``serve`` run (arguments, settings), run four at a time."""
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda run: _serve(tmp_path, *run[0], **run[1]), runs))
    return [_refusal(each, tmp_path) for each in done]


def test_half_a_pair_is_refused_naming_what_is_missing_and_where_each_came_from(
    tmp_path: Path, server_certificate: ServerCertificate
) -> None:
    cert, key = str(server_certificate.cert), str(server_certificate.key)
    missing = str(tmp_path / "missing.pem")
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["--tls-cert", cert], {}, "--tls-cert is given without --tls-key or PASSGATE_TLS_KEY"),
        (["--tls-key", key], {}, "--tls-key is given without --tls-cert or PASSGATE_TLS_CERT"),
        ([], {"PASSGATE_TLS_CERT": cert}, "PASSGATE_TLS_CERT is given without --tls-key"),
        ([], {"PASSGATE_TLS_KEY": key}, "PASSGATE_TLS_KEY is given without --tls-cert"),
        # An option pairs with the other setting; the option wins over its own setting.
        (["--tls-key", key], {"PASSGATE_TLS_CERT": missing}, "PASSGATE_TLS_CERT: cannot read"),
        (
            ["--tls-cert", missing, "--tls-key", key],
            {"PASSGATE_TLS_CERT": cert},
            "--tls-cert: cannot read",
        ),
    ]
    lines = _refusals(tmp_path, [(args, variables) for args, variables, _ in cases])
    for (_, _, expected), line in zip(cases, lines, strict=True):
        assert line.startswith(f"Error: {expected}"), line
        assert "expected both" in line or "No such file or directory" in line


#: (certificate, key, the refusal's start) with the files of the ``faulty`` fixture.
UNUSABLE = [
    ("missing", "good_key", "--tls-cert: cannot read {cert}: No such file or directory"),
    ("good_cert", "missing", "--tls-key: cannot read {key}: No such file or directory"),
    ("good_cert", "folder", "--tls-key: cannot read {key}: Is a directory"),
    ("empty", "good_key", "--tls-cert: {cert} is not a PEM certificate"),
    ("der", "good_key", "--tls-cert: {cert} is not a PEM certificate"),
    ("good_key", "good_key", "--tls-cert: {cert} is not a PEM certificate"),
    ("good_cert", "good_cert", "--tls-key: {key} is not a PEM private key"),
    ("good_cert", "encrypted", "--tls-key: {key} is encrypted with a passphrase"),
    ("good_cert", "legacy_encrypted", "--tls-key: {key} is encrypted with a passphrase"),
    ("good_cert", "other_key", "--tls-key: {key} is not the private key of the certificate"),
    ("weak_cert", "weak_key", "--tls-cert, --tls-key: OpenSSL refuses {cert} with {key}"),
]


def test_unusable_files_are_refused_in_one_line_each(
    tmp_path: Path, faulty: dict[str, Path]
) -> None:
    runs: list[tuple[list[str], dict[str, str]]] = [
        (["--tls-cert", str(faulty[c]), "--tls-key", str(faulty[k])], {}) for c, k, _ in UNUSABLE
    ]
    lines = _refusals(tmp_path, runs)
    for (cert, key, expected), line in zip(UNUSABLE, lines, strict=True):
        cert_path, key_path = faulty[cert], faulty[key]
        assert line.startswith("Error: " + expected.format(cert=cert_path, key=key_path)), line
        for path in {cert_path, key_path}:  # never a file's content
            content = path.read_bytes().splitlines() if path.is_file() else []
            assert not [row for row in content if len(row) > 16 and row.decode("latin-1") in line]
    der, encrypted, weak = lines[4], lines[7], lines[10]
    assert "`openssl x509 -inform DER -in FILE -out NEW_FILE` converts it" in der
    assert "`openssl pkey -in KEY -out NEW_KEY` decrypts it" in encrypted
    assert weak.endswith(": [SSL: EE_KEY_TOO_SMALL] ee key too small"), weak
