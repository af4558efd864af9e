"""The passgate error tree.

PassgateError                      (never raised itself)
 +-- OAuthError                    (rendered as {"error", "error_description"})
 |    +-- InvalidRequest           400 invalid_request
 |    +-- UnsupportedGrantType     400 unsupported_grant_type
 |    +-- InvalidScope             400 invalid_scope
 |    +-- InvalidClient            401 invalid_client
 |    +-- Unauthorized             401 unauthorized   (administrator blocked the user)
 |    +-- PasswordLeaked           401 password_leaked
 |    +-- UnauthorizedClient       403 unauthorized_client
 |    +-- InvalidGrant             403 invalid_grant
 |    +-- AccessDenied             403 access_denied
 |    +-- TooManyAttempts          429 too_many_attempts
 |    +-- ServiceUnavailable       503 temporarily_unavailable
 +-- ManagementError               (rendered as {"statusCode", "error", "message", "errorCode"})
 |    +-- BadRequest               400 invalid_body / invalid_query_string
 |    +-- NotFound                 404 inexistent_<what>
 |    +-- Conflict                 409 conflict
 +-- StorageError                  a backend fault (database, Redis)
 +-- ConfigurationError            refused settings or an unsafe combination
"""

from __future__ import annotations

__all__ = [
    "BRUTE_FORCE_MESSAGE",
    "PASSWORD_LEAKED_MESSAGE",
    "SUSPICIOUS_IP_MESSAGE",
    "WRONG_CREDENTIALS_MESSAGE",
    "AccessDenied",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "ManagementError",
    "NotFound",
    "OAuthError",
    "PassgateError",
    "PasswordLeaked",
    "ServiceUnavailable",
    "StorageError",
    "TooManyAttempts",
    "Unauthorized",
    "UnauthorizedClient",
    "UnsupportedGrantType",
]

WRONG_CREDENTIALS_MESSAGE = "Wrong email or password."
BRUTE_FORCE_MESSAGE = (
    "Your account has been blocked after multiple consecutive login attempts. "
    "We've sent you a notification via your preferred contact method with instructions "
    "on how to unblock it."
)
SUSPICIOUS_IP_MESSAGE = (
    "We have detected suspicious login behavior and further attempts will be blocked. "
    "Please contact the administrator."
)
PASSWORD_LEAKED_MESSAGE = (
    "This login attempt has been blocked because the password you're using was previously "
    "disclosed through a data breach (not in this application). "
    "Please check your email for more information."
)


class PassgateError(Exception):
    """Base of every passgate error; never raised directly."""


class StorageError(PassgateError):
    """A storage backend failed (connection lost, timeout, unexpected state)."""


class ConfigurationError(PassgateError):
    """Settings were refused, or an unsafe combination was asked for."""


class OAuthError(PassgateError):
    """An error answered to the client as ``{"error", "error_description"}``."""

    error: str = "server_error"
    status_code: int = 500
    default_description: str = ""

    def __init__(self, description: str | None = None) -> None:
        self.description = description if description is not None else self.default_description
        super().__init__(self.description)

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"
    status_code = 400


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    status_code = 400


class InvalidScope(OAuthError):
    error = "invalid_scope"
    status_code = 400


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    default_description = "Client authentication failed."

    def __init__(self, description: str | None = None, *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="passgate"'} if self.basic else {}


class Unauthorized(OAuthError):
    error = "unauthorized"
    status_code = 401
    default_description = "user is blocked"


class PasswordLeaked(OAuthError):
    error = "password_leaked"
    status_code = 401
    default_description = PASSWORD_LEAKED_MESSAGE


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    status_code = 403


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    status_code = 403
    default_description = WRONG_CREDENTIALS_MESSAGE


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403


class TooManyAttempts(OAuthError):
    error = "too_many_attempts"
    status_code = 429
    default_description = BRUTE_FORCE_MESSAGE


class ServiceUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    default_description = "The service is temporarily unavailable. Try again later."


class ManagementError(PassgateError):
    """A refusal of the Management API, answered as Auth0 does: ``{"statusCode", "error",
    "message", "errorCode"}``. The CLI shows ``message``."""

    status_code: int = 500
    error: str = "Internal Server Error"
    default_code: str = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.message = message
        self.error_code = code or self.default_code
        super().__init__(message)

    def body(self) -> dict[str, object]:
        return {
            "statusCode": self.status_code,
            "error": self.error,
            "message": self.message,
            "errorCode": self.error_code,
        }


class BadRequest(ManagementError):
    """A body (``invalid_body``) or query (``invalid_query_string``) that is refused."""

    status_code = 400
    error = "Bad Request"
    default_code = "invalid_body"


class NotFound(ManagementError):
    """The object named does not exist (``inexistent_client_grant``, ``inexistent_client``…)."""

    status_code = 404
    error = "Not Found"
    default_code = "not_found"


class Conflict(ManagementError):
    """The object would duplicate one that exists."""

    status_code = 409
    error = "Conflict"
    default_code = "conflict"
