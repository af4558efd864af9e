"""The errors of passgate-client, and how passgate's answers become them (sans-I/O).

PassgateError                  (never raised itself) ``code``, ``status``, ``user_message``
 +-- InvalidCredentials        wrong username or password (or no such user: the same answer)
 +-- TooManyAttempts           429 ``too_many_attempts`` (raised itself only for a wording
 |    |                        this library does not know); ``retry_after``
 |    +-- AccountBlocked       brute-force block: passgate emailed an unblock link
 |    +-- IpThrottled          suspicious-IP throttling of the end user's IP
 |    +-- TooManyLogins        too many successful logins of one user from one IP
 +-- PasswordLeaked            a breached password (``stage``: login, signup, change)
 +-- PasswordRejected          the password policy refused it (``rules``)
 +-- UserBlocked               an administrator blocked the account
 +-- SignupRefused             Auth0's ``invalid_signup`` (the address or name is taken)
 +-- InvalidToken              a refresh or access token was refused (sign in again)
 +-- RequestRefused            the app's request or configuration is wrong (client id or
 |                             secret, grant not enabled, audience, malformed parameter)
 +-- ServiceUnavailable        passgate is down, overloaded or unreachable
UntrustedAddress               (a ValueError) end_user_ip() would not vouch for an address

``user_message`` is safe to show to the end user: it never says whether an account exists.
``code`` is passgate's raw ``error``/``code`` (for logs and app logic), ``description``
passgate's own wording (for logs; it holds no secrets, but show ``user_message`` instead).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

__all__ = [
    "AccountBlocked",
    "InvalidCredentials",
    "InvalidToken",
    "IpThrottled",
    "PassgateError",
    "PasswordLeaked",
    "PasswordRejected",
    "RequestRefused",
    "ServiceUnavailable",
    "SignupRefused",
    "TooManyAttempts",
    "TooManyLogins",
    "UntrustedAddress",
    "UserBlocked",
    "error_from_answer",
]

Operation = Literal[
    "login", "refresh", "revoke", "userinfo", "signup", "change_password", "jwks", "discovery"
]

#: passgate's (and Auth0's) wordings of the three 429 answers of the token endpoint.
BRUTE_FORCE_MESSAGE = (
    "Your account has been blocked after multiple consecutive login attempts. "
    "We've sent you a notification via your preferred contact method with instructions "
    "on how to unblock it."
)
SUSPICIOUS_IP_MESSAGE = (
    "We have detected suspicious login behavior and further attempts will be blocked. "
    "Please contact the administrator."
)
TOO_MANY_LOGINS_MESSAGE = (
    "Too many logins for this user from this IP address. Please try again later."
)


class PassgateError(Exception):
    """Base of every error passgate-client raises for an answer; never raised itself."""

    _user_message: ClassVar[str] = "Something went wrong. Please try again later."

    def __init__(self, code: str, description: str = "", *, status: int | None = None) -> None:
        self.code = code
        self.description = description
        self.status = status
        super().__init__(f"{code}: {description}" if description else code)

    @property
    def user_message(self) -> str:
        """What the end user may be told; never reveals whether an account exists."""
        return self._user_message


class InvalidCredentials(PassgateError):
    """Wrong username or password; an unknown user gets exactly this too."""

    _user_message = "Wrong email or password."


class TooManyAttempts(PassgateError):
    """A 429 ``too_many_attempts``; ``retry_after`` (seconds) when passgate said."""

    _user_message = "Too many attempts. Please try again later."

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, description, status=status)
        self.retry_after = retry_after


class AccountBlocked(TooManyAttempts):
    """Brute-force protection blocked this identifier (from this IP); passgate emailed
    the account's owner an unblock link. Unknown identifiers are blocked alike."""

    _user_message = (
        "Too many failed sign-in attempts. Sign-in is blocked for now: if an account "
        "exists for this email, we have sent it instructions to unblock it."
    )


class IpThrottled(TooManyAttempts):
    """Suspicious-IP throttling: too many failures (or sign-ups) from the end user's IP."""

    _user_message = (
        "We have detected suspicious activity from your network and paused sign-in "
        "attempts from it. Please try again later or contact support."
    )


class TooManyLogins(TooManyAttempts):
    """Too many successful logins of one user from one IP in a short time."""

    _user_message = "Too many sign-ins in a short time. Please wait a moment and try again."


class PasswordLeaked(PassgateError):
    """The password appeared in a data breach. At ``login`` (only after the right password)
    the account needs a password reset (start one with ``change_password``); at
    ``signup`` or ``change`` the user must choose another password."""

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        status: int | None = None,
        stage: Literal["login", "signup", "change"] = "login",
    ) -> None:
        super().__init__(code, description, status=status)
        self.stage = stage

    @property
    def user_message(self) -> str:
        if self.stage == "login":
            return (
                "This password appeared in a data breach on another site, so it can no longer "
                "be used here. Check your email, or reset your password."
            )
        return (
            "This password appeared in a data breach on another site. "
            "Please choose a different password."
        )


class PasswordRejected(PassgateError):
    """The password policy refused the password; ``rules`` are passgate's rules (each
    ``{"message", "format", "code", "verified"}``) and ``policy`` their summary."""

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        status: int | None = None,
        rules: list[dict[str, Any]] | None = None,
        policy: str = "",
    ) -> None:
        super().__init__(code, description, status=status)
        self.rules = rules or []
        self.policy = policy

    @property
    def failed_rules(self) -> list[str]:
        """The rules the password failed, in words ("At least 8 characters in length")."""
        return [_rule_text(rule) for rule in self.rules if not rule.get("verified", True)]

    @property
    def user_message(self) -> str:
        failed = self.failed_rules
        if not failed:
            return "This password is not allowed. Please choose a different one."
        return "This password is not allowed: " + "; ".join(failed) + "."


class UserBlocked(PassgateError):
    """An administrator blocked the account (told only after the right password)."""

    _user_message = "This account is disabled. Please contact support."


class SignupRefused(PassgateError):
    """Sign-up refused as Auth0 does for a taken email or username (``invalid_signup``)."""

    _user_message = (
        "We could not create an account with these details. If you already have an "
        "account, sign in or reset your password."
    )


class InvalidToken(PassgateError):
    """A refresh token or access token was refused (unknown, revoked, reused, expired,
    for another audience or issuer, badly signed, or its user is blocked)."""

    _user_message = "Your session has ended. Please sign in again."


class RequestRefused(PassgateError):
    """passgate refused the app's request: a configuration or programming error on the
    app's side (``invalid_client``, ``unauthorized_client``, ``access_denied``,
    ``invalid_request``…). Log it; the user can do nothing about it."""


class ServiceUnavailable(PassgateError):
    """passgate answered 5xx, something that is not passgate answered, or it could not be
    reached (``code`` ``network_error``)."""

    _user_message = "The sign-in service is temporarily unavailable. Please try again later."


class UntrustedAddress(ValueError):
    """:func:`~passgate_client.end_user_ip` found no address it can vouch for as the end
    user's: a loopback, private or link-local one (the app sees its proxy or its own
    network, so a proxy is missing from ``trusted_proxies``), or no address at all."""


# -- answers to errors -----------------------------------------------------------------
def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` value (delta-seconds or an HTTP date) in seconds; None if absent
    or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, math.ceil(seconds))


def _rule_text(rule: Mapping[str, Any]) -> str:
    message = str(rule.get("message", ""))
    values = rule.get("format") or []
    try:
        return message % tuple(values)
    except (TypeError, ValueError):
        return message


def error_from_answer(
    operation: Operation,
    status: int,
    body: object,
    headers: Mapping[str, str],
) -> PassgateError:
    """The error for passgate's refusal ``status``/``body`` (parsed JSON, or None) of a
    request of ``operation``."""
    if operation == "userinfo" and status == 401:
        # An empty body with a Bearer challenge (RFC 6750 §3).
        return InvalidToken("invalid_token", "the access token was refused", status=status)
    if status >= 500 or not isinstance(body, dict):
        code = str(body.get("error", "")) if isinstance(body, dict) else ""
        description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        return ServiceUnavailable(
            code or "temporarily_unavailable",
            description or f"passgate answered {status}",
            status=status,
        )
    code = str(body.get("error") or body.get("code") or "")
    raw_description = body.get("error_description", body.get("description"))
    description = raw_description if isinstance(raw_description, str) else ""
    if code == "too_many_attempts" or status == 429:
        kind: type[TooManyAttempts] = TooManyAttempts
        if description == BRUTE_FORCE_MESSAGE:
            kind = AccountBlocked
        elif description == SUSPICIOUS_IP_MESSAGE:
            kind = IpThrottled
        elif description == TOO_MANY_LOGINS_MESSAGE:
            kind = TooManyLogins
        retry_after = retry_after_seconds(headers.get("retry-after"))
        return kind(
            code or "too_many_attempts", description, status=status, retry_after=retry_after
        )
    if code == "password_leaked":
        stage: Literal["login", "signup", "change"] = (
            "signup"
            if operation == "signup"
            else "change"
            if operation == "change_password"
            else "login"
        )
        return PasswordLeaked(code, description, status=status, stage=stage)
    if code == "invalid_password":
        details = body.get("description")
        rules = details.get("rules") if isinstance(details, dict) else None
        policy = body.get("policy")
        message = body.get("error_description") or body.get("message") or ""
        return PasswordRejected(
            code,
            str(message),
            status=status,
            rules=[rule for rule in rules if isinstance(rule, dict)]
            if isinstance(rules, list)
            else [],
            policy=policy if isinstance(policy, str) else "",
        )
    if code == "invalid_signup":
        return SignupRefused(code, description, status=status)
    if operation == "login":
        if code == "invalid_grant":
            return InvalidCredentials(code, description, status=status)
        if code == "unauthorized":
            return UserBlocked(code, description, status=status)
    if operation in ("refresh", "userinfo") and code in ("invalid_grant", "invalid_token", ""):
        return InvalidToken(code or "invalid_token", description, status=status)
    return RequestRefused(code or f"http_{status}", description, status=status)
