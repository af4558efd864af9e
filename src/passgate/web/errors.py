"""How passgate's errors are answered over HTTP: the one place that maps the error tree
(:mod:`passgate.errors`) to statuses, headers and Auth0's bodies.

Every route answers a refusal through :func:`error_status`, :func:`error_headers` and
:func:`error_body` (or :func:`error_response`, which puts the three together):

- an :class:`~passgate.errors.OAuthError` as ``{"error", "error_description"}``, its
  status from :data:`STATUSES` (RFC 6749 §5.2 and Auth0's choices);
- an :class:`~passgate.accounts.service.AccountError` in the ``/dbconnections`` shape
  ``{"name", "code", "description", "statusCode", "error", "error_description"}`` (the
  reference's field names too, so clients reading either form find the code); a refusal
  it carries (a hook's, the body reader's) gives the status, but a leaked password is a
  400 at sign-up and password change (SPEC §5), not the login's 401;
- a :class:`~passgate.errors.ManagementError` in Auth0's Management API shape
  ``{"statusCode", "error", "message", "errorCode"}`` (:func:`management_body`);
- a :class:`~passgate.errors.TokenError` as an empty 401 with a ``Bearer`` challenge
  (RFC 6750 §3), not marked no-store.

The HTML pages (password reset, unblock) take the status from :func:`error_status` too.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import Response

from passgate.accounts.service import (
    AccountError,
    HookRefused,
    InvalidPassword,
    ResetTicketInvalid,
    UnreadableBody,
)
from passgate.errors import (
    AccessDenied,
    BadRequest,
    BodyTooLarge,
    Conflict,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    ManagementError,
    MissingToken,
    NotFound,
    OAuthError,
    PassgateError,
    PasswordLeaked,
    ServiceUnavailable,
    TokenError,
    TooManyAttempts,
    Unauthorized,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from passgate.management.errors import InsufficientScope, PayloadTooLarge, Unauthenticated
from passgate.web.responses import NO_STORE, JSONResponse

__all__ = [
    "REASONS",
    "STATUSES",
    "error_body",
    "error_headers",
    "error_response",
    "error_status",
    "management_body",
    "management_refusal",
]

#: The status of each class; a subclass not listed takes its nearest listed ancestor's.
STATUSES: dict[type[PassgateError], int] = {
    InvalidRequest: 400,
    BodyTooLarge: 413,
    UnsupportedGrantType: 400,
    InvalidScope: 400,
    InvalidClient: 401,
    Unauthorized: 401,
    PasswordLeaked: 401,
    UnauthorizedClient: 403,
    InvalidGrant: 403,
    AccessDenied: 403,
    TooManyAttempts: 429,
    ServiceUnavailable: 503,
    AccountError: 400,
    ResetTicketInvalid: 410,
    TokenError: 401,
    ManagementError: 400,
    BadRequest: 400,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unauthenticated: 401,
    InsufficientScope: 403,
}
#: Anything else is the server's fault.
_SERVER_ERROR = 500
_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="passgate"'}
_BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID_TOKEN_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def error_status(error: PassgateError) -> int:
    """The HTTP status ``error`` is answered with."""
    if isinstance(error, HookRefused):
        # A breached password is a 400 at sign-up and password change (SPEC §5).
        return 400 if isinstance(error.refusal, PasswordLeaked) else error_status(error.refusal)
    if isinstance(error, UnreadableBody):
        return error_status(error.refusal)
    for kind in type(error).__mro__:
        status = STATUSES.get(kind)
        if status is not None:
            return status
    return _SERVER_ERROR


#: The reason phrases Auth0's Management API writes in ``error``.
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def management_body(error: ManagementError) -> dict[str, Any]:
    """Auth0's Management API error body of ``error``."""
    return management_refusal(error_status(error), error.message, error.error_code)


def management_refusal(status: int, message: str, code: str) -> dict[str, Any]:
    """Auth0's Management API error body: also for answers no error raised (405, 429…)."""
    return {
        "statusCode": status,
        "error": REASONS.get(status, "Error"),
        "message": message,
        "errorCode": code,
    }


def error_headers(error: PassgateError) -> dict[str, str]:
    """The headers ``error`` adds to the answer (a challenge naming the scheme)."""
    if isinstance(error, HookRefused | UnreadableBody):
        return error_headers(error.refusal)
    if isinstance(error, InvalidClient) and error.basic:
        return dict(_BASIC_CHALLENGE)
    if isinstance(error, TooManyAttempts) and error.retry_after is not None:
        # RFC 9110 §10.2.3: whole seconds; at least 1 (the refusal stands until then).
        return {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    if isinstance(error, Unauthenticated):
        # RFC 6750 §3: no error code when no token came.
        if error.error_code != "invalid_token":
            return dict(_BEARER_CHALLENGE)
        description = error.message.replace("\\", "").replace('"', "'")
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        }
    if isinstance(error, MissingToken):
        return dict(_BEARER_CHALLENGE)
    if isinstance(error, TokenError):
        return dict(_INVALID_TOKEN_CHALLENGE)
    return {}


def error_body(error: OAuthError | AccountError) -> dict[str, Any]:
    """The JSON body of ``error``: OAuth's for an OAuth error, Auth0's ``/dbconnections``
    shape for an account refusal."""
    if isinstance(error, OAuthError):
        return {"error": error.error, "error_description": error.description}
    if isinstance(error, InvalidPassword):
        strength = error.name == "PasswordStrengthError"
        return {
            "name": error.name,
            "message": error.message,
            "code": error.code,
            "description": (
                {"rules": error.rules, "verified": False} if strength else error.message
            ),
            "policy": error.policy.summary(),
            "statusCode": error_status(error),
            "error": error.code,
            "error_description": error.description,
        }
    return {
        "name": "BadRequestError",
        "code": error.code,
        "description": error.description,
        "statusCode": error_status(error),
        "error": error.code,
        "error_description": error.description,
    }


def error_response(error: OAuthError | AccountError | TokenError) -> Response:
    """The whole answer to ``error``: its JSON body, never cached (a refused bearer token
    has only its status and challenge)."""
    if isinstance(error, TokenError):
        return Response(status_code=error_status(error), headers=error_headers(error))
    headers = {**NO_STORE, **error_headers(error)}
    return JSONResponse(error_body(error), status_code=error_status(error), headers=headers)
