"""``/api/v2``: the Management API's routes, built from a table of operations.

Each call goes through the same steps, in this order:

1. the path and method select an :class:`~passgate.web.management.operations.Operation`
   (else 404 / 405 in Auth0's shape);
2. the bearer token is checked and one call is taken from the token's rate-limit bucket,
   together in one hop to the I/O pool (401; 429 with ``retry-after``); every answer from
   here on carries ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset``;
3. the token's scopes must hold one of the operation's (403 ``insufficient_scope``);
4. the query string and the body are read strictly (400; 413 past the body cap);
5. the handler runs in the I/O pool and its reply is sent.

A call that changes something (POST, PUT, PATCH, DELETE) and got past step 2 writes one
event: ``sapi`` when it succeeded, ``fapi`` when it was refused or failed, naming the
client, the method and path, the query, and what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from passgate.domain.clock import Clock
from passgate.domain.events import Event, EventSink
from passgate.errors import BodyTooLarge, InvalidRequest, ServiceUnavailable, StorageError
from passgate.management.access import Caller, ManagementAccess
from passgate.management.errors import InvalidBody, ManagementError, PayloadTooLarge
from passgate.management.rate_limit import RateLimit, RateLimiter
from passgate.web.body import read_body
from passgate.web.errors import error_headers, error_status, management_refusal
from passgate.web.management.forms import read_form
from passgate.web.management.inputs import check_path, parse_body, parse_query
from passgate.web.management.openapi import openapi_document
from passgate.web.management.operations import Call, Operation, Reply
from passgate.web.responses import JSONResponse

__all__ = ["API_PREFIX", "management_routes", "redacted"]

logger = logging.getLogger("passgate.web")

API_PREFIX = "/api/v2"
RunIo = Callable[..., Awaitable[Any]]
ConnectingIp = Callable[[str | None, list[str]], str]
_NO_STORE = {"cache-control": "no-store"}
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Fields whose values never reach an event, whatever a handler reports as changed.
_SECRET_WORDS = ("password", "secret", "token", "private", "hash", "key")
#: Settings named like secrets that are none (a client's and an API's): shown as they are.
_NOT_SECRETS = frozenset(
    {"token_endpoint_auth_method", "is_token_endpoint_ip_header_trusted", "token_lifetime"}
)
_UNAVAILABLE = "The service is temporarily unavailable. Try again later."
_SERVER_ERROR = "An internal server error occurred"
#: Longest path or query value an event keeps.
_EVENT_TEXT = 300


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: int
    response: Response
    #: What changed (a success), or why it was refused (a failure).
    changes: Mapping[str, Any] | None = None
    error: str | None = None


def _refusal(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = management_refusal(status, message, code)
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _error(exc: ManagementError, headers: Mapping[str, str] | None = None) -> Response:
    extra = {**(headers or {}), **error_headers(exc)}
    return _refusal(error_status(exc), exc.message, exc.error_code, extra)


def redacted(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with the value of every field named like a secret replaced."""
    return {
        name: "(changed)"
        if name not in _NOT_SECRETS and any(word in name.lower() for word in _SECRET_WORDS)
        else value
        for name, value in changes.items()
    }


class _Dispatcher:
    """Runs the steps of the module's docstring for the operations of one path."""

    def __init__(
        self,
        operations: Sequence[Operation],
        *,
        access: ManagementAccess,
        limiter: RateLimiter,
        events: EventSink,
        clock: Clock,
        run_io: RunIo,
        connecting_ip: ConnectingIp,
        max_body_bytes: int,
    ) -> None:
        self._by_method: dict[str, Operation] = {op.method: op for op in operations}
        self._allow = ", ".join(sorted(self._by_method))
        self._access = access
        self._limiter = limiter
        self._events = events
        self._clock = clock
        self._run_io = run_io
        self._connecting_ip = connecting_ip
        self._limit = max_body_bytes

    def _admit(self, authorization: list[str]) -> tuple[Caller, RateLimit]:
        """Blocking: check the token, then take one call from its bucket."""
        caller = self._access.authenticate(authorization)
        return caller, self._limiter.take(caller.token_key)

    async def handle(self, request: Request) -> Response:
        operation = self._by_method.get(request.method)
        if operation is None:
            return _method_not_allowed(request.method, self._allow)
        try:
            caller, limit = await self._run_io(
                self._admit, request.headers.getlist("authorization")
            )
        except ManagementError as exc:
            return _error(exc)
        except StorageError as exc:
            return _unavailable(exc)
        except Exception:
            logger.exception("checking a Management API token failed")
            return _server_error()
        headers = {**_NO_STORE, **limit.headers()}
        if not limit.allowed:
            return _refusal(429, "Global limit has been reached", "too_many_requests", headers)
        ip = self._connecting_ip(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
        )
        outcome = await self._answer(operation, request, caller, ip, headers)
        if operation.changes_something:
            self._audit(operation, request, caller, ip, outcome)
        return outcome.response

    async def _answer(
        self,
        operation: Operation,
        request: Request,
        caller: Caller,
        ip: str,
        headers: dict[str, str],
    ) -> _Outcome:
        try:
            caller.require(operation.scopes)
            if operation.form is not None:
                reply = await self._form_call(operation, request, caller, ip)
            else:
                call = await self._call(operation, request, caller, ip)
                reply = await self._run_io(operation.handler, call)
        except ManagementError as exc:
            return _Outcome(error_status(exc), _error(exc, headers), error=exc.message)
        except (StorageError, ServiceUnavailable) as exc:
            return _Outcome(503, _unavailable(exc, headers), error=_UNAVAILABLE)
        except Exception:
            logger.exception("%s %s failed", operation.method, operation.path)
            return _Outcome(500, _server_error(headers), error=_SERVER_ERROR)
        response: Response
        if reply.stream is not None:
            response = StreamingResponse(
                reply.stream,
                status_code=reply.status,
                headers={**headers, **(reply.headers or {})},
                media_type=operation.answer.media_type,
            )
        elif reply.body is None:
            response = Response(status_code=reply.status, headers=headers)
        else:
            response = JSONResponse(reply.body, status_code=reply.status, headers=headers)
        return _Outcome(reply.status, response, changes=reply.changes)

    async def _form_call(
        self, operation: Operation, request: Request, caller: Caller, ip: str
    ) -> Reply:
        """A ``multipart/form-data`` call: its files stay open while the handler runs."""
        query = parse_query(request.query_params.multi_items(), operation.query)
        path = check_path(request.path_params)
        assert operation.form is not None
        limit = operation.max_body_bytes or self._limit
        form, fields, files = await read_form(request, operation.form, limit)
        try:
            call = Call(
                caller=caller,
                path=path,
                query=query,
                body=None,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                form=fields,
                files=files,
            )
            reply: Reply = await self._run_io(operation.handler, call)
            return reply
        finally:
            await form.close()

    async def _call(self, operation: Operation, request: Request, caller: Caller, ip: str) -> Call:
        query = parse_query(request.query_params.multi_items(), operation.query)
        path = check_path(request.path_params)
        try:
            raw = await read_body(request, self._limit)
        except BodyTooLarge:
            raise PayloadTooLarge(
                f"Payload content length greater than maximum allowed: {self._limit}"
            ) from None
        except InvalidRequest as exc:
            raise InvalidBody(exc.description) from None
        body = parse_body(
            raw, request.headers.get("content-type"), expected=operation.body is not None
        )
        return Call(
            caller=caller,
            path=path,
            query=query,
            body=body,
            ip=ip,
            user_agent=request.headers.get("user-agent"),
        )

    def _audit(
        self, operation: Operation, request: Request, caller: Caller, ip: str, outcome: _Outcome
    ) -> None:
        succeeded = outcome.status < 400
        declared = {param.name for param in operation.query}
        response: dict[str, Any] = {"statusCode": outcome.status}
        details: dict[str, Any] = {
            "request": {
                "method": request.method.lower(),
                "path": _cut(request.url.path),
                "query": {
                    name: _cut(value)
                    for name, value in request.query_params.multi_items()
                    if name in declared
                },
            },
            "response": response,
        }
        if succeeded:
            details["changes"] = redacted(outcome.changes or {})
        else:
            response["error"] = outcome.error
        self._events.emit(
            Event(
                type="sapi" if succeeded else "fapi",
                date=self._clock(),
                description=operation.summary,
                ip=ip,
                client_ip=ip,
                client_id=caller.client_id,
                client_name=caller.client_name,
                user_agent=request.headers.get("user-agent"),
                audience=self._access.audience,
                scope=caller.scope,
                details=details,
            )
        )


def _cut(text: str) -> str:
    return text if len(text) <= _EVENT_TEXT else text[: _EVENT_TEXT - 1] + "…"


def _unavailable(
    exc: StorageError | ServiceUnavailable, headers: Mapping[str, str] | None = None
) -> Response:
    logger.warning("the Management API could not reach its storage: %s", exc)
    return _refusal(503, _UNAVAILABLE, "temporarily_unavailable", headers)


def _server_error(headers: Mapping[str, str] | None = None) -> Response:
    return _refusal(500, _SERVER_ERROR, "server_error", headers)


def _method_not_allowed(method: str, allow: str) -> Response:
    message = f"Method {method} is not allowed here"
    return _refusal(405, message, "method_not_allowed", {"allow": allow})


class _Anything(Convertor[str]):
    """Starlette's ``path`` without its blind spot: line breaks too, so no path under
    ``/api/v2`` escapes the Auth0-shaped 404."""

    regex = "[\\s\\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anything", _Anything())


def _not_found(request: Request) -> Response:
    return _refusal(404, "Not Found", "not_found")


def management_routes(
    operations: Sequence[Operation],
    *,
    access: ManagementAccess,
    limiter: RateLimiter,
    events: EventSink,
    clock: Clock,
    run_io: RunIo,
    connecting_ip: ConnectingIp,
    max_body_bytes: int,
    issuer: str,
) -> list[Route]:
    """One route per path of ``operations`` under ``/api/v2``, ``GET /api/v2/openapi.json``
    (no token needed: it documents the API, it holds no data), and an Auth0-shaped 404 for
    every other path under ``/api/v2``."""
    by_path: dict[str, list[Operation]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, []).append(operation)
    document = openapi_document(operations, issuer=issuer)

    async def openapi(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed(request.method, "GET")
        return JSONResponse(document, headers={"cache-control": "public, max-age=300"})

    async def not_found(request: Request) -> Response:
        return _not_found(request)

    routes = [Route(f"{API_PREFIX}/openapi.json", openapi, methods=_ALL_METHODS)]
    for path, declared in by_path.items():
        dispatcher = _Dispatcher(
            declared,
            access=access,
            limiter=limiter,
            events=events,
            clock=clock,
            run_io=run_io,
            connecting_ip=connecting_ip,
            max_body_bytes=max_body_bytes,
        )
        routes.append(Route(API_PREFIX + path, dispatcher.handle, methods=_ALL_METHODS))
    routes.append(Route(API_PREFIX + "/{rest:anything}", not_found, methods=_ALL_METHODS))
    routes.append(Route(API_PREFIX, not_found, methods=_ALL_METHODS))
    return routes
