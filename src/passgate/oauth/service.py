"""The token endpoint's logic: authenticate the client, then decide, then issue.

Web-free: the web layer hands over parsed parameters and connection facts, and renders
the :class:`~passgate.oauth.minting.TokenSet` or the :class:`~passgate.errors.OAuthError`.
Each call writes exactly one event (``sepft``/``fepft``, ``seccft``/``feccft``,
``sertft``/``fertft``, and ``ferrt`` when a rotated refresh token is reused); a
revocation that revokes a client's token writes ``srrt``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.domain.login import RequestContext
from passgate.domain.models import PASSWORD_REALM, Api, User
from passgate.errors import (
    CONNECTION_NOT_ENABLED,
    AccessDenied,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from passgate.oauth.client_auth import AuthenticatedClient, ClientAuthenticator
from passgate.oauth.minting import Minter, TokenSet
from passgate.oauth.password_login import BreachedGate, PasswordLogins
from passgate.oauth.records import MAX_AUDIENCE, Records, RequestRecords, Wanted
from passgate.oauth.request import BasicCredentials, without_blank_options
from passgate.oauth.scopes import GrantedScopes, client_grant_scopes, grant_scopes, split_scope
from passgate.observability.notes import RequestNote
from passgate.storage.tokens import RefreshTokens, Revocation, RotateOutcome
from passgate.support.io_pool import run_in_pool

__all__ = ["BreachedGate", "ConnectionFacts", "TokenService"]

logger = logging.getLogger("passgate.token")

REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600
_MAX_IDENTIFIER = 320
_MAX_PASSWORD = 4096
_EVENT_TYPES = {
    "password": ("sepft", "fepft"),
    PASSWORD_REALM: ("sepft", "fepft"),
    "client_credentials": ("seccft", "feccft"),
    "refresh_token": ("sertft", "fertft"),
}
#: Why a refresh token was refused, for the event's ``details.reason`` (the client gets
#: one answer for all). A reused token's event is ``ferrt``, Auth0's code for it.
_REFRESH_REFUSALS = {
    RotateOutcome.UNKNOWN: "refresh token unknown",
    RotateOutcome.REUSED: "refresh token reused: its family was revoked",
    RotateOutcome.REVOKED: "refresh token revoked",
    RotateOutcome.EXPIRED: "refresh token expired",
    RotateOutcome.WRONG_CLIENT: "refresh token issued to another client",
    RotateOutcome.USER_BLOCKED: "user is blocked",
    RotateOutcome.USER_UNKNOWN: "the refresh token's user no longer exists",
}


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What the web layer knows about the HTTP request besides its parameters."""

    client_ip: str
    forwarded_for: tuple[str, ...] = ()
    user_agent: str | None = None
    #: Why the request's ``X-Forwarded-For`` was not believed, if it had one that was not
    #: (no trusted proxy configured): for the event's ``details.x_forwarded_for``.
    proxy_note: str | None = None


ResolveIp = Callable[[str, tuple[str, ...], AuthenticatedClient], tuple[str, str | None]]


@dataclasses.dataclass
class _Call:
    grant: str | None
    context: RequestContext
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Durations in milliseconds (``verify``), for the optional Server-Timing header.
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    #: The failure event's type when it is not the grant's (``ferrt``).
    failure_type: str | None = None
    #: ``ConnectionFacts.proxy_note``.
    proxy_note: str | None = None
    note: RequestNote | None = None


class TokenService:
    def __init__(
        self,
        *,
        authenticator: ClientAuthenticator,
        records: RequestRecords,
        refresh_tokens: RefreshTokens,
        minter: Minter,
        logins: PasswordLogins,
        events: EventSink,
        clock: Clock,
        resolve_ip: ResolveIp,
        io_pool: ThreadPoolExecutor,
    ) -> None:
        self._authenticator = authenticator
        self._records = records
        self._refresh = refresh_tokens
        self._minter = minter
        #: The password grant's logins, with their guard, hashing pool and breached gate.
        self.logins = logins
        self._events = events
        self._clock = clock
        self._resolve_ip = resolve_ip
        self._io_pool = io_pool

    # -- entry point ---------------------------------------------------------------
    async def token(
        self,
        params: Mapping[str, str],
        basic: BasicCredentials | None,
        facts: ConnectionFacts,
        timings: dict[str, float] | None = None,
        note: RequestNote | None = None,
    ) -> TokenSet:
        """Handle one token request; ``timings`` gets stage durations, ``note`` the grant,
        the end user's IP and the client (when given).

        An empty or blank ``audience``, ``scope`` or ``realm`` is handled as not sent."""
        params = without_blank_options(params)
        grant = params.get("grant_type")
        call = _Call(
            grant=grant,
            context=RequestContext(
                ip=facts.client_ip, client_ip=facts.client_ip, user_agent=facts.user_agent
            ),
            timings=timings if timings is not None else {},
            proxy_note=facts.proxy_note,
            note=note,
        )
        audience = params.get("audience")
        # Cut to the event log's column: an over-long audience is refused below, yet logged.
        call.fields["audience"] = audience[:MAX_AUDIENCE] if audience is not None else None
        call.fields["scope"] = params.get("scope")
        try:
            result = await self._token(call, params, basic, facts)
        except OAuthError as exc:
            call.details["error"] = {"error": exc.error, "message": exc.description}
            self._emit(call, success=False)
            raise
        except Exception:
            call.details["error"] = {"error": "server_error"}
            self._emit(call, success=False)
            raise
        self._emit(call, success=True)
        return result

    def record_malformed(self, facts: ConnectionFacts, error: OAuthError) -> None:
        """The event of a request whose body could not be read or parsed."""
        context = RequestContext(
            ip=facts.client_ip, client_ip=facts.client_ip, user_agent=facts.user_agent
        )
        call = _Call(grant=None, context=context, proxy_note=facts.proxy_note)
        call.details["error"] = {"error": error.error, "message": error.description}
        self._emit(call, success=False)

    def _emit(self, call: _Call, *, success: bool) -> None:
        kinds = _EVENT_TYPES.get(call.grant or "", ("sepft", "fepft"))
        details = call.details  # this call's own dict, finished here
        if call.grant is not None and call.grant not in _EVENT_TYPES:
            details["grant_type"] = call.grant[:200]
        context = call.context
        if context.ip_note:
            details["ip_header"] = context.ip_note
        if call.proxy_note:
            details["x_forwarded_for"] = call.proxy_note
        fields = call.fields
        if (note := call.note) is not None:  # for the access log and the metrics
            note.grant, note.ip, note.client_id = call.grant, context.ip, context.client_id
        self._events.emit(
            Event(
                type=kinds[0] if success else call.failure_type or kinds[1],
                date=self._clock(),
                ip=context.ip,
                client_ip=context.client_ip,
                client_id=context.client_id,
                client_name=context.client_name,
                user_agent=context.user_agent,
                connection=fields.get("connection"),
                user_id=fields.get("user_id"),
                user_name=fields.get("user_name"),
                audience=fields.get("audience"),
                scope=fields.get("scope"),
                details=details,
            )
        )

    async def _token(
        self,
        call: _Call,
        params: Mapping[str, str],
        basic: BasicCredentials | None,
        facts: ConnectionFacts,
    ) -> TokenSet:
        if not call.grant:
            raise InvalidRequest("Missing required parameter: grant_type")
        if call.grant not in _EVENT_TYPES:
            raise UnsupportedGrantType(f"Unsupported grant type: {call.grant[:100]}")
        authenticated, records = await self._authenticate(call.grant, params, basic)
        client = authenticated.client
        context = call.context
        try:
            ip, note = self._resolve_ip(facts.client_ip, facts.forwarded_for, authenticated)
        except InvalidRequest:  # a malformed forwarded IP: the event still names the client
            call.context = dataclasses.replace(
                context, client_id=client.client_id, client_name=client.name
            )
            raise
        call.context = RequestContext(
            ip=ip,
            client_ip=context.client_ip,
            client_id=client.client_id,
            client_name=client.name,
            user_agent=context.user_agent,
            ip_note=note,
        )
        if call.grant not in client.grant_types:
            raise UnauthorizedClient(f"Grant type '{call.grant}' not allowed for the client.")
        if call.grant == "client_credentials":
            return await self._client_credentials(call, params, authenticated, records)
        if call.grant == "refresh_token":
            return await self._refresh_token(call, params, authenticated)
        return await self._password(call, params, authenticated, records)

    # -- shared decisions ----------------------------------------------------------
    async def _authenticate(
        self, grant: str | None, params: Mapping[str, str], basic: BasicCredentials | None
    ) -> tuple[AuthenticatedClient, Records]:
        """The client and the records the request names: cached, or all read in one I/O hop."""
        presented = self._authenticator.presented(params, basic)
        wanted = Wanted.of(grant, params, presented.client_id)
        if (records := self._records.cached(wanted)) is None:
            records = await run_in_pool(self._io_pool, self._records.load, wanted)
        return self._authenticator.authenticate(presented, records.client), records

    def _now(self) -> int:
        return math.floor(self._clock())

    def _issue_for_user(
        self,
        *,
        user: User,
        authenticated: AuthenticatedClient,
        api: Api | None,
        scopes: GrantedScopes,
        grant: str,
        refresh_token: str | None,
        now: int,
    ) -> TokenSet:
        client = authenticated.client
        access, lifetime = self._minter.access_token(
            subject=user.id, client=client, api=api, scopes=scopes, now=now, grant=grant
        )
        id_token = None
        if scopes.has("openid"):
            id_token = self._minter.id_token(user=user, client=client, scopes=scopes, now=now)
        return TokenSet(
            access_token=access,
            expires_in=lifetime,
            scope=scopes,
            id_token=id_token,
            refresh_token=refresh_token,
        )

    def _wants_refresh(
        self, authenticated: AuthenticatedClient, api: Api | None, scopes: GrantedScopes
    ) -> bool:
        return (
            scopes.has("offline_access")
            and "refresh_token" in authenticated.client.grant_types
            and (api is None or api.allow_offline_access)
        )

    # -- password and password-realm ----------------------------------------------
    async def _password(
        self,
        call: _Call,
        params: Mapping[str, str],
        authenticated: AuthenticatedClient,
        records: Records,
    ) -> TokenSet:
        username = params.get("username")
        password = params.get("password")
        if not username:
            raise InvalidRequest("Missing required parameter: username")
        if password is None or password == "":
            raise InvalidRequest("Missing required parameter: password")
        if len(username) > _MAX_IDENTIFIER:
            raise InvalidRequest("The username parameter is too long")
        if len(password) > _MAX_PASSWORD:
            raise InvalidRequest("The password parameter is too long")
        if call.grant == PASSWORD_REALM and not params.get("realm"):
            raise InvalidRequest("Missing required parameter: realm")
        call.fields["user_name"] = username
        connection = records.connection_for(authenticated.client.client_id, call.fields)
        api = records.api_for(params.get("audience"))
        scopes = grant_scopes(params.get("scope"), api)

        attempt = records.login_attempt(username, call.context)
        refusal = self.logins.guard.refuse_early(attempt)
        if refusal is not None:
            raise refusal

        def mint(user: User) -> TokenSet:
            return self._issue_for_user(
                user=user,
                authenticated=authenticated,
                api=api,
                scopes=scopes,
                grant="password",
                refresh_token=None,
                now=self._now(),
            )

        user, refusal, tokens = await self.logins.login(
            attempt, connection, password, mint, call.timings
        )
        del password
        if user is not None:
            call.fields["user_id"] = user.id
        if refusal is not None:
            raise refusal
        assert user is not None
        assert tokens is not None
        if self._wants_refresh(authenticated, api, scopes):
            refresh = await run_in_pool(
                self._io_pool,
                self._refresh.issue,
                client_id=authenticated.client.client_id,
                user_id=user.id,
                audience=api.identifier if api else None,
                scope=scopes.value,
                now=float(self._now()),
                lifetime=REFRESH_TOKEN_LIFETIME,
            )
            tokens = dataclasses.replace(tokens, refresh_token=refresh)
        return tokens

    # -- refresh_token -------------------------------------------------------------
    async def _refresh_token(
        self, call: _Call, params: Mapping[str, str], authenticated: AuthenticatedClient
    ) -> TokenSet:
        token = params.get("refresh_token")
        if not token:
            raise InvalidRequest("Missing required parameter: refresh_token")
        if len(token) > 512:
            raise InvalidGrant("Unknown or invalid refresh token.")
        requested = params.get("scope")
        if requested is not None:
            # Decide before rotating: a refused request must not consume the token (its
            # rightful retry would then look like a reuse and revoke the whole family).
            # A family's scope never changes, so this check cannot go stale.
            found = await run_in_pool(self._io_pool, self._refresh.find, token)
            if (
                found is not None
                and found.client_id == authenticated.client.client_id
                and not set(split_scope(requested)) <= set(split_scope(found.scope))
            ):
                raise InvalidScope("The requested scope exceeds the refresh token's scope")
        now = self._now()
        rotation, successor = await run_in_pool(
            self._io_pool,
            self._refresh.rotate,
            token,
            client_id=authenticated.client.client_id,
            now=float(now),
            lifetime=REFRESH_TOKEN_LIFETIME,
        )
        del token
        if rotation.token is not None:
            call.fields["user_id"] = rotation.token.user_id
            call.fields["audience"] = rotation.token.audience
            call.details["familyId"] = rotation.token.family_id
        if rotation.token is None or rotation.user is None:
            call.details["reason"] = _REFRESH_REFUSALS[rotation.outcome]
            if rotation.outcome is RotateOutcome.REUSED:
                call.failure_type = "ferrt"
            if rotation.outcome is RotateOutcome.USER_BLOCKED:
                raise InvalidGrant("user is blocked")  # Auth0's answer to this grant
            raise InvalidGrant("Unknown or invalid refresh token.")
        record, user = rotation.token, rotation.user
        original = split_scope(record.scope)
        if requested is not None:
            narrower = split_scope(requested)
            if not set(narrower) <= set(original):
                raise InvalidScope("The requested scope exceeds the refresh token's scope")
            scopes = GrantedScopes(scopes=narrower, narrowed=False)
        else:
            scopes = GrantedScopes(scopes=original, narrowed=False)

        def issue() -> TokenSet:
            if not self._records.enabled(user.connection, authenticated.client.client_id):
                raise InvalidGrant(CONNECTION_NOT_ENABLED)
            api = self._records.api(record.audience) if record.audience else None
            return self._issue_for_user(
                user=user,
                authenticated=authenticated,
                api=api,
                scopes=scopes,
                grant="refresh_token",
                refresh_token=successor,
                now=now,
            )

        tokens = await run_in_pool(self._io_pool, issue)
        call.fields["connection"] = user.connection
        call.fields["user_name"] = user.email
        return tokens

    # -- client_credentials --------------------------------------------------------
    async def _client_credentials(
        self,
        call: _Call,
        params: Mapping[str, str],
        authenticated: AuthenticatedClient,
        records: Records,
    ) -> TokenSet:
        if not authenticated.with_secret:
            raise UnauthorizedClient("Grant type 'client_credentials' needs a confidential client.")
        audience = params.get("audience")
        if not audience:
            raise AccessDenied(
                "No audience parameter was provided, and no default audience has been configured"
            )
        api = records.api_for(audience)
        assert api is not None
        client_id = authenticated.client.client_id
        scopes = client_grant_scopes(params.get("scope"), api, records.client_grant, client_id)
        now = self._now()
        access, lifetime = await run_in_pool(
            self._io_pool,
            self._minter.access_token,
            subject=f"{client_id}@clients",
            client=authenticated.client,
            api=api,
            scopes=scopes,
            now=now,
            grant="client-credentials",
        )
        return TokenSet(access_token=access, expires_in=lifetime, scope=scopes)

    # -- revocation ----------------------------------------------------------------
    async def revoke(
        self, params: Mapping[str, str], basic: BasicCredentials | None, facts: ConnectionFacts
    ) -> None:
        """RFC 7009: revoke a refresh token (and its family); unknown tokens are fine.

        Revoking one of the client's tokens writes ``srrt``. Auth0 has no event code for
        a failed revocation: a refused request, an unknown token and another client's
        token write none."""
        authenticated, _ = await self._authenticate(None, params, basic)
        token = params.get("token")
        if not token:
            raise InvalidRequest("Missing required parameter: token")
        revocation = await run_in_pool(
            self._io_pool,
            self._refresh.revoke,
            token,
            client_id=authenticated.client.client_id,
            now=self._clock(),
        )
        del token
        if revocation is not None:
            self._events.emit(self._revoked_event(revocation, authenticated, facts))

    def _revoked_event(
        self, revocation: Revocation, authenticated: AuthenticatedClient, facts: ConnectionFacts
    ) -> Event:
        record = revocation.token
        return Event(
            type="srrt",
            date=self._clock(),
            ip=facts.client_ip,
            client_ip=facts.client_ip,
            client_id=authenticated.client.client_id,
            client_name=authenticated.client.name,
            user_agent=facts.user_agent,
            user_id=record.user_id,
            audience=record.audience,
            details={"familyId": record.family_id, "already_revoked": revocation.revoked == 0},
        )
