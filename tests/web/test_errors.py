"""The web layer's one mapping from the error tree to statuses, headers and bodies."""

from __future__ import annotations

import orjson
import pytest

from passgate.accounts.model import InvalidPassword
from passgate.accounts.service import (
    BREACHED_PASSWORD_MESSAGE,
    AccountError,
    BadConnection,
    HookRefused,
    InvalidBody,
    InvalidSignup,
    ResetRefused,
    ResetTicketInvalid,
    UnknownClient,
    UnreadableBody,
)
from passgate.breached.errors import BreachedUpstreamUnavailable
from passgate.domain.password_policy import StrengthPolicy
from passgate.errors import (
    PASSWORD_LEAKED_MESSAGE,
    AccessDenied,
    BodyTooLarge,
    ConfigurationError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    MissingToken,
    OAuthError,
    PassgateError,
    PasswordLeaked,
    ServiceUnavailable,
    StorageError,
    TokenError,
    TooManyAttempts,
    Unauthorized,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from passgate.web.errors import error_body, error_headers, error_response, error_status

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
BASIC = {"WWW-Authenticate": 'Basic realm="passgate"'}

#: Every OAuth error class, an instance, and its status and ``error`` code.
OAUTH: list[tuple[OAuthError, int, str]] = [
    (InvalidRequest("Missing required parameter: grant_type"), 400, "invalid_request"),
    (BodyTooLarge("The request body is larger than 10 bytes"), 413, "invalid_request"),
    (UnsupportedGrantType("Unsupported grant type: x"), 400, "unsupported_grant_type"),
    (InvalidScope("The requested scope exceeds it"), 400, "invalid_scope"),
    (InvalidClient(), 401, "invalid_client"),
    (Unauthorized(), 401, "unauthorized"),
    (PasswordLeaked(), 401, "password_leaked"),
    (UnauthorizedClient("Grant type 'x' not allowed"), 403, "unauthorized_client"),
    (InvalidGrant(), 403, "invalid_grant"),
    (AccessDenied("Service not found: x"), 403, "access_denied"),
    (TooManyAttempts(), 429, "too_many_attempts"),
    (ServiceUnavailable(), 503, "temporarily_unavailable"),
    (BreachedUpstreamUnavailable("upstream down"), 503, "temporarily_unavailable"),
]


def _classes(root: type[PassgateError]) -> set[type[PassgateError]]:
    found: set[type[PassgateError]] = set()
    pending = [root]
    while pending:
        kind = pending.pop()
        found.add(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_every_oauth_error_class_is_in_the_table() -> None:
    concrete = _classes(OAuthError) - {OAuthError}
    assert concrete == {type(error) for error, _, _ in OAUTH}


@pytest.mark.parametrize(("error", "status", "code"), OAUTH, ids=lambda v: type(v).__name__)
def test_an_oauth_error_is_its_status_and_an_oauth_body(
    error: OAuthError, status: int, code: str
) -> None:
    response = error_response(error)
    assert response.status_code == error_status(error) == status
    assert response.body == orjson.dumps({"error": code, "error_description": error.description})
    assert error_body(error) == {"error": code, "error_description": error.description}
    assert dict(response.headers) == {
        "content-length": str(len(response.body)),
        "content-type": "application/json",
        **NO_STORE,
    }


def test_only_a_basic_invalid_client_carries_a_challenge() -> None:
    assert error_headers(InvalidClient(basic=True)) == BASIC
    assert error_response(InvalidClient(basic=True)).headers["www-authenticate"] == (
        'Basic realm="passgate"'
    )
    for error, _, _ in OAUTH:
        assert error_headers(error) == {}


@pytest.mark.parametrize("error", [StorageError("x"), ConfigurationError("x")])
def test_an_error_with_no_answer_of_its_own_is_the_servers_fault(error: PassgateError) -> None:
    assert error_status(error) == 500


# -- bearer tokens ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "challenge"),
    [
        (MissingToken(), "Bearer"),
        (InvalidToken("the token has expired"), 'Bearer error="invalid_token"'),
    ],
    ids=["missing", "invalid"],
)
def test_a_refused_bearer_token_is_an_empty_401_with_its_challenge(
    error: TokenError, challenge: str
) -> None:
    response = error_response(error)
    assert response.status_code == error_status(error) == 401
    assert response.body == b""
    assert dict(response.headers) == {"www-authenticate": challenge, "content-length": "0"}


# -- the /dbconnections shape ----------------------------------------------------------
ACCOUNT: list[tuple[AccountError, int, str]] = [
    (InvalidBody("Missing required parameter: email"), 400, "invalid_body"),
    (UnknownClient(), 400, "invalid_client"),
    (BadConnection(), 400, "bad.connection"),
    (InvalidSignup(), 400, "invalid_signup"),
    (ResetRefused("The passwords do not match."), 400, "invalid_password"),
    (ResetTicketInvalid(), 410, "invalid_ticket"),
    (UnreadableBody(InvalidRequest("The body is not valid JSON")), 400, "invalid_body"),
    (UnreadableBody(BodyTooLarge("The request body is larger than 9 bytes")), 413, "invalid_body"),
    (HookRefused.from_oauth(TooManyAttempts("slow down")), 429, "too_many_attempts"),
    (HookRefused.from_oauth(ServiceUnavailable()), 503, "temporarily_unavailable"),
    (HookRefused.from_oauth(BreachedUpstreamUnavailable("down")), 503, "temporarily_unavailable"),
    (HookRefused.from_oauth(InvalidGrant()), 403, "invalid_grant"),
    (HookRefused.from_oauth(PasswordLeaked()), 400, "password_leaked"),
]


@pytest.mark.parametrize(("error", "status", "code"), ACCOUNT, ids=lambda v: type(v).__name__)
def test_an_account_refusal_is_auth0s_dbconnections_body(
    error: AccountError, status: int, code: str
) -> None:
    response = error_response(error)
    assert response.status_code == error_status(error) == status
    assert response.body == orjson.dumps(
        {
            "name": "BadRequestError",
            "code": code,
            "description": error.description,
            "statusCode": status,
            "error": code,
            "error_description": error.description,
        }
    )
    assert {name: response.headers[name] for name in NO_STORE} == NO_STORE
    assert "www-authenticate" not in response.headers


def test_a_leaked_password_is_a_400_with_the_account_wording() -> None:
    error = HookRefused.from_oauth(PasswordLeaked())
    assert error.description == BREACHED_PASSWORD_MESSAGE != PASSWORD_LEAKED_MESSAGE
    assert error_status(PasswordLeaked()) == 401
    assert error_status(error) == 400
    custom = HookRefused.from_oauth(PasswordLeaked("a description of the hook's own"))
    assert custom.description == "a description of the hook's own"


def test_a_hook_refusal_keeps_its_refusals_challenge() -> None:
    error = HookRefused.from_oauth(InvalidClient(basic=True))
    assert error_status(error) == 401
    assert error_headers(error) == BASIC


def test_a_weak_password_is_auth0s_password_strength_error() -> None:
    policy = StrengthPolicy(level="low", min_length=8, max_length=20)
    failed = policy.failed("short")
    refusal = InvalidPassword(policy, policy.rules("short"), policy.describe_failure(failed))
    assert error_status(refusal) == 400
    assert error_response(refusal).body == orjson.dumps(
        {
            "name": "PasswordStrengthError",
            "message": "Password is too weak",
            "code": "invalid_password",
            "description": {
                "rules": [
                    {
                        "message": "At least %d characters in length",
                        "format": [8],
                        "code": "lengthAtLeast",
                        "verified": False,
                    },
                    {
                        "message": "At most %d characters in length",
                        "format": [20],
                        "code": "lengthAtMost",
                        "verified": True,
                    },
                ],
                "verified": False,
            },
            "policy": "* At least 8 characters in length\n* At most 20 characters in length",
            "statusCode": 400,
            "error": "invalid_password",
            "error_description": "Password is too weak: use at least 8 characters.",
        }
    )
