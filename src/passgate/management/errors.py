"""The Management API's own refusals, leaves of :class:`~passgate.errors.ManagementError`.

Each carries a message that says what is wrong in words (naming the field or parameter)
and Auth0's stable ``errorCode``; :mod:`passgate.web.errors` gives each its status and
Auth0's body ``{"statusCode", "error", "message", "errorCode"}``.
"""

from __future__ import annotations

from passgate.errors import BadRequest, ManagementError, NotFound

__all__ = [
    "InsufficientScope",
    "InvalidBody",
    "InvalidQuery",
    "InvalidUri",
    "ManagementError",
    "NotFound",
    "PayloadTooLarge",
    "SettingRefused",
    "Unauthenticated",
]


class InvalidBody(BadRequest):
    """The request body is not JSON, not an object, or a field is refused."""

    default_code = "invalid_body"


class SettingRefused(InvalidBody):
    """A value the stores refuse for a client or an API (an unknown ``app_type``, trust in
    a public client's header…): ``problem`` is the rule's own words, which the CLI shows."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"Payload validation error: '{problem}'.")
        self.problem = problem


class InvalidQuery(BadRequest):
    """A query-string parameter is missing, repeated, unknown or refused."""

    default_code = "invalid_query_string"


class InvalidUri(BadRequest):
    """A path parameter is refused (e.g. not an IP address)."""

    default_code = "invalid_uri"


class PayloadTooLarge(ManagementError):
    """The request body is longer than the server takes."""

    default_code = "payload_too_large"


class Unauthenticated(ManagementError):
    """No bearer token (``missing_authentication``), or one the Management API does not
    accept (``invalid_token``)."""

    default_code = "invalid_token"


class InsufficientScope(ManagementError):
    """A valid token without any of the scopes the operation needs."""

    default_code = "insufficient_scope"

    def __init__(self, needed: tuple[str, ...]) -> None:
        super().__init__(f"Insufficient scope, expected any of: {','.join(needed)}")
