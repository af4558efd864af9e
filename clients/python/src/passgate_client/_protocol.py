"""What each call sends and how its answer is read: no I/O here, so the sync and the async
client share every rule (as httpx's auth flows do)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from passgate_client._end_user_ip import parse_ip
from passgate_client._errors import Operation, PassgateError, ServiceUnavailable, error_from_answer

__all__ = [
    "DEFAULT_CONNECTION",
    "FORWARDED_FOR_HEADER",
    "PASSWORD_REALM_GRANT",
    "AuthMethod",
    "Call",
    "Protocol",
    "SignupResult",
    "Tokens",
]

FORWARDED_FOR_HEADER = "auth0-forwarded-for"
PASSWORD_REALM_GRANT = "http://auth0.com/oauth/grant-type/password-realm"
#: The database connection a fresh passgate (and Auth0 tenant) has.
DEFAULT_CONNECTION = "Username-Password-Authentication"
USER_AGENT = "passgate-client/0.1.0"
AuthMethod = Literal["client_secret_post", "client_secret_basic"]


@dataclasses.dataclass(frozen=True, slots=True)
class Tokens:
    """A token answer. Tokens are left out of ``repr`` so a logged object leaks none."""

    access_token: str = dataclasses.field(repr=False)
    expires_in: int
    token_type: str = "Bearer"
    id_token: str | None = dataclasses.field(default=None, repr=False)
    refresh_token: str | None = dataclasses.field(default=None, repr=False)
    scope: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SignupResult:
    """The user a sign-up created: ``user_id`` as in tokens' ``sub`` (``auth0|…``)."""

    user_id: str
    email: str
    email_verified: bool
    username: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to make, and what it is (for reading the answer)."""

    operation: Operation
    method: str
    path: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    form: dict[str, str] | None = dataclasses.field(default=None, repr=False)
    json: dict[str, Any] | None = dataclasses.field(default=None, repr=False)


def _checked_ip(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError("end_user_ip must be a string (see passgate_client.end_user_ip)")
    address = parse_ip(value)
    if address is None or "," in value:
        raise ValueError(f"end_user_ip must be one IPv4 or IPv6 address, not {value!r}")
    return str(address)


class Protocol:
    """The client's settings and the calls it makes."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        auth_method: AuthMethod = "client_secret_post",
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if auth_method not in ("client_secret_post", "client_secret_basic"):
            raise ValueError("auth_method must be client_secret_post or client_secret_basic")
        self.base_url = base_url.rstrip("/") + "/"
        self.client_id = client_id
        self._client_secret = client_secret
        self.auth_method = auth_method

    def __repr__(self) -> str:
        return f"<passgate {self.base_url} client {self.client_id}>"

    def _token_call(
        self, operation: Operation, params: dict[str, str], end_user_ip: str | None
    ) -> Call:
        headers: dict[str, str] = {}
        form = {**params, "client_id": self.client_id}
        if self.auth_method == "client_secret_basic":
            pair = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_secret"] = self._client_secret
        if end_user_ip is not None:
            headers[FORWARDED_FOR_HEADER] = _checked_ip(end_user_ip)
        path = "oauth/token" if operation != "revoke" else "oauth/revoke"
        return Call(operation, "POST", path, headers=headers, form=form)

    def login(
        self,
        username: str,
        password: str,
        *,
        end_user_ip: str,
        realm: str | None,
        audience: str | None,
        scope: str | None,
    ) -> Call:
        params = {"username": username, "password": password}
        if realm is not None:
            params["grant_type"] = PASSWORD_REALM_GRANT
            params["realm"] = realm
        else:
            params["grant_type"] = "password"
        if audience is not None:
            params["audience"] = audience
        if scope is not None:
            params["scope"] = scope
        return self._token_call("login", params, end_user_ip)

    def refresh(self, refresh_token: str, *, end_user_ip: str | None, scope: str | None) -> Call:
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            params["scope"] = scope
        return self._token_call("refresh", params, end_user_ip)

    def revoke(self, refresh_token: str) -> Call:
        return self._token_call("revoke", {"token": refresh_token}, None)

    def userinfo(self, access_token: str) -> Call:
        headers = {"Authorization": f"Bearer {access_token}"}
        return Call("userinfo", "GET", "userinfo", headers=headers)

    def signup(
        self, email: str, password: str, *, connection: str, fields: Mapping[str, Any]
    ) -> Call:
        body: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
        body.update(client_id=self.client_id, email=email, password=password, connection=connection)
        return Call("signup", "POST", "dbconnections/signup", json=body)

    def change_password(self, email: str, *, connection: str) -> Call:
        body = {"client_id": self.client_id, "email": email, "connection": connection}
        return Call("change_password", "POST", "dbconnections/change_password", json=body)

    def discovery(self) -> Call:
        return Call("discovery", "GET", ".well-known/openid-configuration")

    def jwks(self) -> Call:
        return Call("jwks", "GET", ".well-known/jwks.json")

    # -- sending and reading (the I/O itself is the caller's) ---------------------------
    def request(self, call: Call) -> httpx.Request:
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **call.headers},
            data=call.form,
            json=call.json,
        )

    @staticmethod
    def transport_error(call: Call, error: httpx.HTTPError) -> PassgateError:
        return ServiceUnavailable(
            "network_error", f"{type(error).__name__} during {call.operation}"
        )

    @staticmethod
    def answer(call: Call, response: httpx.Response) -> Any:
        """The JSON body of a success (None when empty), else raises the error."""
        try:
            body: Any = response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
            if response.is_success and call.operation not in ("revoke", "change_password"):
                raise ServiceUnavailable(
                    "invalid_response", "the answer is not JSON", status=response.status_code
                ) from None
        if not response.is_success:
            raise error_from_answer(call.operation, response.status_code, body, response.headers)
        return body

    @staticmethod
    def tokens(body: Any) -> Tokens:
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise ServiceUnavailable("invalid_response", "the token answer has no access_token")
        expires_in = body.get("expires_in")
        return Tokens(
            access_token=body["access_token"],
            expires_in=expires_in if isinstance(expires_in, int) else 0,
            token_type=str(body.get("token_type", "Bearer")),
            id_token=body.get("id_token") if isinstance(body.get("id_token"), str) else None,
            refresh_token=(
                body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
            ),
            scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
        )

    @staticmethod
    def signed_up(body: Any) -> SignupResult:
        if not isinstance(body, dict) or not isinstance(body.get("_id"), str):
            raise ServiceUnavailable("invalid_response", "the sign-up answer has no _id")
        username = body.get("username")
        return SignupResult(
            user_id="auth0|" + body["_id"],
            email=str(body.get("email", "")),
            email_verified=bool(body.get("email_verified", False)),
            username=username if isinstance(username, str) else None,
            raw=body,
        )

    @staticmethod
    def claims(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ServiceUnavailable("invalid_response", "the userinfo answer is not an object")
        return body
