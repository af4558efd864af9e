"""The passgate error tree: what went wrong, never how it is answered.

Every error passgate raises derives from :class:`PassgateError`. An error carries its
meaning (its class) and its data (an OAuth ``error`` code and description, the field a
value was refused for); it holds no status code, header or response body. How an error is
answered is decided in one place per interface: :mod:`passgate.web.errors` (status,
headers and Auth0's bodies) and :func:`passgate.cli.support.refusals` (message and exit
code). This module imports nothing of passgate, so every layer can raise these.

Branches are defined here; leaves that belong to one owner live beside it (the path is
given), all under this one root.

PassgateError                        (never raised itself)
 +-- ConfigurationError              refused settings or an unsafe combination
 |    +-- KeyEncryptionError         support/key_encryption: a missing, malformed, unsafe or
 |                                   wrong key-encryption key
 +-- StorageError                    a backend fault (database, Redis, a stored value)
 +-- MailError                       mail/mailer: a message could not be handed over
 +-- InvalidValue                    a value given was refused; nothing changed (never raised
 |    |                              itself; also a ValueError)
 |    +-- ValueTooLong               storage/limits: longer than the column it goes to
 |    +-- ProfileError               domain/profiles: a profile field breaks a rule
 |    +-- PolicyError                domain/policy: a policy document or patch
 |    +-- InvalidConfiguration       storage/application_rows: an application's or API's setting
 |    +-- InvalidIdentifier          storage/directory: could name another account
 |    +-- DuplicateUser              storage/directory: the email or username is taken
 |    +-- UnknownConnection          storage/directory: no database connection has the name
 |    +-- UnsupportedHash            support/legacy_hashes: an imported password hash passgate
 |    |                              cannot check (unknown, malformed, over a cost cap)
 |    +-- FileError                  support/json_rows: a users file that cannot be read on
 |                                   (names the row and offset)
 +-- TokenError                      a bearer token was refused (never raised itself)
 |    +-- MissingToken               no bearer token was presented
 |    +-- InvalidToken               malformed, badly signed, expired, for someone else, or
 |                                   its user is gone or blocked
 +-- OAuthError                      an OAuth error: its ``error`` code and description
 |    +-- InvalidRequest             invalid_request
 |    |    +-- BodyTooLarge          the request body is over the size limit
 |    +-- UnsupportedGrantType       unsupported_grant_type
 |    +-- InvalidScope               invalid_scope
 |    +-- InvalidClient              invalid_client (``basic``: the client used HTTP Basic)
 |    +-- Unauthorized               unauthorized (an administrator blocked the user)
 |    +-- PasswordLeaked             password_leaked
 |    +-- UnauthorizedClient         unauthorized_client
 |    +-- InvalidGrant               invalid_grant
 |    +-- AccessDenied               access_denied
 |    +-- TooManyAttempts            too_many_attempts
 |    +-- ServiceUnavailable         temporarily_unavailable
 |         +-- BreachedUpstreamUnavailable  (also a BreachedError, below)
 +-- AccountError                    accounts/model: a sign-up, password change or reset was
 |    |                              refused (Auth0's ``code`` and a description)
 |    +-- InvalidBody                invalid_body: a missing, mistyped or malformed field
 |    |    +-- UnreadableBody        the body itself was refused (carries that InvalidRequest)
 |    +-- UnknownClient              invalid_client
 |    +-- BadConnection              bad.connection
 |    +-- InvalidSignup              invalid_signup (a taken email or username)
 |    +-- InvalidPassword            invalid_password (the policy and the rules it failed)
 |    +-- HookRefused                a hook's OAuthError (carried) at sign-up or change
 |    +-- ResetTicketInvalid         invalid_ticket
 |    +-- ResetRefused               invalid_password (the reset form is shown again)
 +-- BreachedError                   breached/errors: the breached-password corpus
      +-- BreachedImportError        bad input: names the file and the line
      +-- BreachedIndexError         an index file that is missing, foreign or damaged
      +-- BreachedRangeUnavailable   no range companion was imported (--with-range)
      +-- BreachedUpstreamUnavailable  the upstream range API could not answer
"""

from __future__ import annotations

__all__ = [
    "BRUTE_FORCE_MESSAGE",
    "CONNECTION_NOT_ENABLED",
    "PASSWORD_LEAKED_MESSAGE",
    "SUSPICIOUS_IP_MESSAGE",
    "WRONG_CREDENTIALS_MESSAGE",
    "AccessDenied",
    "BadRequest",
    "BodyTooLarge",
    "ConfigurationError",
    "Conflict",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "InvalidValue",
    "ManagementError",
    "MissingToken",
    "NotFound",
    "OAuthError",
    "PassgateError",
    "PasswordLeaked",
    "ServiceUnavailable",
    "StorageError",
    "TokenError",
    "TooManyAttempts",
    "Unauthorized",
    "UnauthorizedClient",
    "UnsupportedGrantType",
]

WRONG_CREDENTIALS_MESSAGE = "Wrong email or password."
#: A client not in a connection's ``enabled_clients`` (password grants: 403
#: ``unauthorized_client``; refresh tokens of the connection's users: ``invalid_grant``).
CONNECTION_NOT_ENABLED = "The connection is not enabled for this client."
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


class InvalidValue(PassgateError, ValueError):
    """A value given was refused (malformed, too long, taken, naming nothing); nothing was
    changed. The message names the value. Never raised directly."""


# -- bearer tokens ---------------------------------------------------------------------
class TokenError(PassgateError):
    """A bearer token was refused; never raised directly."""


class MissingToken(TokenError):
    """No bearer token was presented."""


class InvalidToken(TokenError):
    """A JWT that is malformed, badly signed, expired or for someone else, or whose user
    is gone or blocked."""


# -- OAuth protocol errors -------------------------------------------------------------
class OAuthError(PassgateError):
    """An OAuth error: its ``error`` code and a description, both told to the client."""

    error: str = "server_error"
    default_description: str = ""

    def __init__(self, description: str | None = None) -> None:
        self.description = description if description is not None else self.default_description
        super().__init__(self.description)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class BodyTooLarge(InvalidRequest):
    """The request body is larger than the configured limit (declared or sent)."""


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidClient(OAuthError):
    """Client authentication failed; ``basic`` says the client tried HTTP Basic, which the
    answer then names (RFC 6749 §5.2)."""

    error = "invalid_client"
    default_description = "Client authentication failed."

    def __init__(self, description: str | None = None, *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic


class Unauthorized(OAuthError):
    error = "unauthorized"
    default_description = "user is blocked"


class PasswordLeaked(OAuthError):
    error = "password_leaked"
    default_description = PASSWORD_LEAKED_MESSAGE


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    default_description = WRONG_CREDENTIALS_MESSAGE


class AccessDenied(OAuthError):
    error = "access_denied"


class TooManyAttempts(OAuthError):
    """``retry_after``: seconds until an attempt can be admitted again, when that is known
    (a throttled IP's bucket refills; a brute-force block has no such time)."""

    error = "too_many_attempts"
    default_description = BRUTE_FORCE_MESSAGE

    def __init__(self, description: str | None = None, *, retry_after: float | None = None):
        super().__init__(description)
        self.retry_after = retry_after


class ServiceUnavailable(OAuthError):
    error = "temporarily_unavailable"
    default_description = "The service is temporarily unavailable. Try again later."


class ManagementError(PassgateError):
    """A refused Management API call: ``message`` says what is wrong in words (naming the
    field or parameter), ``error_code`` is Auth0's stable ``errorCode``. The CLI shows
    ``message``; :mod:`passgate.web.errors` gives the status and Auth0's error body."""

    default_code: str = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.default_code


class BadRequest(ManagementError):
    """A body (``invalid_body``), query (``invalid_query_string``) or path parameter that
    is refused."""

    default_code = "invalid_body"


class NotFound(ManagementError):
    """The object named does not exist (``inexistent_client_grant``, ``inexistent_client``…)."""

    default_code = "not_found"


class Conflict(ManagementError):
    """The object would duplicate one that exists."""

    default_code = "conflict"
