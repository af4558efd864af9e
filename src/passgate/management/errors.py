"""The Management API's refusals, in Auth0's error body.

Auth0's Management API answers every error as ``{"statusCode", "error", "message",
"errorCode"}``: ``error`` is the HTTP reason phrase, ``message`` says what is wrong in
words (naming the field or parameter), ``errorCode`` is stable for programs. Services
raise these; ``web.management`` renders them.
"""

from __future__ import annotations

from typing import Any

from passgate.errors import PassgateError

__all__ = [
    "REASONS",
    "InsufficientScope",
    "InvalidBody",
    "InvalidQuery",
    "InvalidUri",
    "ManagementError",
    "NotFound",
    "Unauthenticated",
]

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


class ManagementError(PassgateError):
    """A refused Management API call: ``status_code``, ``error_code`` and a message."""

    status_code = 400
    error_code = "invalid_request"

    def __init__(
        self, message: str, *, error_code: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "error": REASONS.get(self.status_code, "Error"),
            "message": self.message,
            "errorCode": self.error_code,
        }


class InvalidBody(ManagementError):
    """The request body is not JSON, not an object, or a field is refused."""

    error_code = "invalid_body"


class InvalidQuery(ManagementError):
    """A query-string parameter is missing, repeated, unknown or refused."""

    error_code = "invalid_query_string"


class InvalidUri(ManagementError):
    """A path parameter is refused (e.g. not an IP address)."""

    error_code = "invalid_uri"


class Unauthenticated(ManagementError):
    """No bearer token, or one the Management API does not accept."""

    status_code = 401
    error_code = "invalid_token"

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750): no error code when no token came."""
        if self.error_code != "invalid_token":
            return "Bearer"
        description = self.message.replace("\\", "").replace('"', "'")
        return f'Bearer error="invalid_token", error_description="{description}"'


class InsufficientScope(ManagementError):
    """A valid token without any of the scopes the operation needs."""

    status_code = 403
    error_code = "insufficient_scope"

    def __init__(self, needed: tuple[str, ...]) -> None:
        super().__init__(f"Insufficient scope, expected any of: {','.join(needed)}")


class NotFound(ManagementError):
    """What the path names does not exist (``inexistent_user``, …)."""

    status_code = 404
    error_code = "not_found"
