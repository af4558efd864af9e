"""Auth0's official Node.js SDK against ``passgate serve`` over https, unchanged: only its
``domain`` points at passgate, and Node trusts the test CA (``NODE_EXTRA_CA_CERTS``).

The SDK builds ``https://{domain}/…`` itself, and validates every ID token it receives
against the issuer ``https://{domain}/`` and the JWKS served there: a grant that succeeds
has also checked passgate's https issuer and keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.certificates import ServerCertificate
from tests.node_sdk import HttpsPassgate, NodeSdk
from tests.test_serve_instances import decode

pytestmark = pytest.mark.slow

API = "https://api.orders.example/"
PASSWORD = "a long and private passphrase"
END_USER_IP = "198.51.100.23"
REALM = "Username-Password-Authentication"


def test_authentication_client_grants_over_https(
    node_sdk: NodeSdk,  # first: without node, skipped (or failed) before a server starts
    https_passgate: Callable[..., HttpsPassgate],
    server_certificate: ServerCertificate,
) -> None:
    passgate = https_passgate()
    passgate.cli("apis", "create", "--identifier", API, "--scope", "read:orders")
    web = passgate.cli(
        "clients", "create", "--name", "Shop", "--grant", "password",
        "--grant", "password-realm", "--trust-ip-header",
    )  # fmt: skip
    machine = passgate.cli(
        "clients", "create", "--name", "Billing job", "--app-type", "non_interactive",
        "--grant", "client_credentials",
    )  # fmt: skip
    passgate.cli(
        "client-grants", "create", "--client-id", machine["client_id"],
        "--audience", API, "--scope", "read:orders",
    )  # fmt: skip
    user = passgate.cli(
        "users", "create", "--email", "alice@example.com", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip

    result = node_sdk.run(
        "authentication.mjs",
        passgate.domain,
        client_id=web["client_id"],
        client_secret=web["client_secret"],
        machine_client_id=machine["client_id"],
        machine_client_secret=machine["client_secret"],
        username="alice@example.com",
        password=PASSWORD,
        audience=API,
        realm=REALM,
        end_user_ip=END_USER_IP,
    )

    jwks = httpx.get(
        passgate.base_url + ".well-known/jwks.json", verify=server_certificate.client_context()
    ).json()
    for grant in ("password", "password_realm"):
        answer: dict[str, Any] = result[grant]
        assert answer["ok"], answer
        assert answer["status"] == 200
        claims = decode(answer["data"]["access_token"], jwks, API)
        assert claims["iss"] == passgate.base_url
        assert claims["sub"] == user["user_id"]
        assert decode(answer["data"]["id_token"], jwks, web["client_id"])["iss"] == (
            passgate.base_url
        )

    wrong = result["wrong_password"]
    assert not wrong["ok"]
    assert wrong["name"] == "AuthApiError"
    assert wrong["statusCode"] == 403
    assert wrong["body"] == {
        "error": "invalid_grant",
        "error_description": "Wrong email or password.",
    }
    assert (wrong["error"], wrong["error_description"]) == (
        "invalid_grant",
        "Wrong email or password.",
    )

    machine_token = result["client_credentials"]
    assert machine_token["ok"], machine_token
    claims = decode(machine_token["data"]["access_token"], jwks, API)
    assert claims["sub"] == f"{machine['client_id']}@clients"
    assert claims["iss"] == passgate.base_url
    assert "id_token" not in machine_token["data"]
    wrong_secret = result["wrong_secret"]
    assert (wrong_secret["name"], wrong_secret["statusCode"]) == ("AuthApiError", 401)
    assert wrong_secret["body"] == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }

    # The SDK's auth0-forwarded-for header reached attack protection: the end user's IP
    # is the one that counted, and Node's connection the one that connected.
    events = passgate.cli("logs", "--type", "sepft") + passgate.cli("logs", "--type", "fepft")
    assert {(event["ip"], event["client_ip"]) for event in events} == {(END_USER_IP, "127.0.0.1")}
    assert passgate.server.stop() == 0
    assert "Traceback" not in passgate.server.stderr()
