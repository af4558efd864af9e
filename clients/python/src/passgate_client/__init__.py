"""passgate-client: log users in against passgate from a server-side Python app, with the
end user's IP forwarded the safe way, typed errors that are safe to show, and access-token
verification with a cached key set."""

from passgate_client._async_client import AsyncPassgateClient
from passgate_client._client import PassgateClient
from passgate_client._end_user_ip import end_user_ip
from passgate_client._errors import (
    AccountBlocked,
    InvalidCredentials,
    InvalidToken,
    IpThrottled,
    PassgateError,
    PasswordLeaked,
    PasswordRejected,
    RequestRefused,
    ServiceUnavailable,
    SignupRefused,
    TooManyAttempts,
    TooManyLogins,
    UntrustedAddress,
    UserBlocked,
)
from passgate_client._protocol import DEFAULT_CONNECTION, SignupResult, Tokens

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CONNECTION",
    "AccountBlocked",
    "AsyncPassgateClient",
    "InvalidCredentials",
    "InvalidToken",
    "IpThrottled",
    "PassgateClient",
    "PassgateError",
    "PasswordLeaked",
    "PasswordRejected",
    "RequestRefused",
    "ServiceUnavailable",
    "SignupRefused",
    "SignupResult",
    "Tokens",
    "TooManyAttempts",
    "TooManyLogins",
    "UntrustedAddress",
    "UserBlocked",
    "__version__",
    "end_user_ip",
]
