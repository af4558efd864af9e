"""``passgate protection …``.

Attack protection from the command line, on the configured database and counters backend
(SQL by default, Redis when ``PASSGATE_REDIS_URL`` is set, built as the server builds it):

* ``protection show`` / ``protection set SECTION`` read and change the three policies in
  their Management API shapes (SPEC §3, §4, §5); ``protection admins`` keeps the
  administrators' email addresses. A refused value changes nothing.
* ``blocks`` lives in :mod:`passgate.cli.blocks`.
* ``ip-blocks`` lives in :mod:`passgate.cli.ip_blocks`.

Running servers see a policy change within their settings cache time (1 s).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click
import sqlalchemy as sa

from passgate.cli.support import (
    Stores,
    check_email,
    emit,
    fields,
    json_option,
    open_stores,
)
from passgate.domain.identifiers import canonical_identifier
from passgate.domain.policy import (
    BruteForcePolicy,
    PolicyError,
    SuspiciousIpPolicy,
)
from passgate.management.attack_protection import (
    BREACHED_PASSWORD,
    BRUTE_FORCE,
    SECTIONS,
    SUSPICIOUS_IP,
    AnyPolicy,
    AttackProtection,
)
from passgate.settings import Settings
from passgate.storage.backends import counters_from_settings
from passgate.storage.counters import AttackCounters
from passgate.storage.settings_store import (
    BREACHED_PASSWORD_KEY,
    BRUTE_FORCE_KEY,
    SUSPICIOUS_IP_KEY,
    SettingsStore,
)

__all__ = ["ADMIN_EMAILS_KEY", "configured_counters", "protection", "yes_no"]

#: Tenant setting: the administrators' addresses (suspicious-IP and breached-password mail).
ADMIN_EMAILS_KEY = "admin_emails"
_MAX_EMAIL = 320

#: ``protection set`` subcommands -> the Management API's sections.
_SECTIONS = {
    "brute-force": BRUTE_FORCE,
    "suspicious-ip": SUSPICIOUS_IP,
    "breached-password": BREACHED_PASSWORD,
}


@contextlib.contextmanager
def configured_counters(settings: Settings, engine: sa.Engine) -> Iterator[AttackCounters]:
    """The attack-protection counters the server uses, closed on exit."""
    counters, close = counters_from_settings(settings, engine)
    try:
        yield counters
    finally:
        close()


# -- readable output ----------------------------------------------------------------


def _names(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "(none)"


def yes_no(value: bool) -> str:
    """``yes`` or ``no``, as the tables print a flag."""
    return "yes" if value else "no"


def _section(title: str, pairs: Sequence[tuple[str, object]]) -> str:
    body = "\n".join(f"  {line}" for line in fields(pairs).splitlines())
    return f"{title}\n{body}"


def _policy_text(policy: AnyPolicy) -> str:
    if isinstance(policy, BruteForcePolicy):
        return _section(
            "brute-force protection",
            [
                ("enabled", yes_no(policy.enabled)),
                ("shields", _names(policy.shields)),
                ("allowlist", _names(policy.allowlist)),
                ("mode", policy.mode),
                ("max_attempts", policy.max_attempts),
            ],
        )
    if isinstance(policy, SuspiciousIpPolicy):
        login, signup = policy.pre_login, policy.pre_user_registration
        return _section(
            "suspicious IP throttling",
            [
                ("enabled", yes_no(policy.enabled)),
                ("shields", _names(policy.shields)),
                ("allowlist", _names(policy.allowlist)),
                ("pre-login", f"{login.max_attempts} attempts, 1 back every {login.rate} ms"),
                (
                    "pre-user-registration",
                    f"{signup.max_attempts} attempts, 1 back every {signup.rate} ms",
                ),
            ],
        )
    return _section(
        "breached password detection",
        [
            ("enabled", yes_no(policy.enabled)),
            ("shields", _names(policy.shields)),
            ("admin_notification_frequency", _names(policy.admin_notification_frequency)),
            ("method", policy.method),
            ("pre-user-registration shields", _names(policy.pre_user_registration_shields)),
            ("pre-change-password shields", _names(policy.pre_change_password_shields)),
        ],
    )


def _admin_emails(stores: Stores) -> list[str]:
    value = stores.tenant.get(ADMIN_EMAILS_KEY, [])
    return [str(item) for item in value] if isinstance(value, list) else []


# -- protection ---------------------------------------------------------------------


@click.group()
def protection() -> None:
    """Attack-protection policies (brute force, suspicious IPs, breached passwords)."""


@protection.command("show")
@json_option
def show_protection(as_json: bool) -> None:
    """Show the three policies (Management API shapes) and the administrator emails."""
    with open_stores() as stores:
        service = AttackProtection(SettingsStore(stores.engine))
        policies = [service.get(section) for section in SECTIONS]
        admins = _admin_emails(stores)
    document: dict[str, Any] = {
        key: policy.to_json()
        for key, policy in zip(
            (BRUTE_FORCE_KEY, SUSPICIOUS_IP_KEY, BREACHED_PASSWORD_KEY), policies, strict=True
        )
    }
    document[ADMIN_EMAILS_KEY] = admins
    emit(
        as_json,
        document,
        lambda: "\n\n".join(
            [*(_policy_text(p) for p in policies), f"administrator emails: {_names(admins)}"]
        ),
    )


@protection.group("set")
def set_policy() -> None:
    """Change one policy: with options, or a Management-API-style PATCH (--patch JSON).

    List options (--shield, --allowlist, ...) replace the whole list, as a PATCH does.
    """


class _Patch:
    """A PATCH document built from command-line options, remembering which option set
    which field (to name the option when the policy refuses the value)."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}
        self.options: dict[str, str] = {}

    def put(self, path: str, value: object, option: str) -> None:
        if value is None:
            return
        *parents, name = path.split("/")
        target = self.document
        for part in parents:
            target = target.setdefault(part, {})
        target[name] = value
        self.options[".".join(path.split("/"))] = option

    def put_list(self, path: str, values: tuple[str, ...], clear: bool, options: str) -> None:
        """``values`` (repeatable option) or ``[]`` (its clearing flag), never both."""
        replace, empty = options.split("|")
        if values and clear:
            raise click.ClickException(f"{replace} and {empty} cannot be combined")
        if values or clear:
            self.put(path, list(values), replace if values else empty)

    def option_for(self, message: str) -> str | None:
        field = message.split(":", 1)[0].split("[", 1)[0]
        return self.options.get(field)


def _read_patch(text: str) -> object:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"--patch is not valid JSON: {exc}") from None


def _apply(section: str, options: _Patch, patch_text: str | None, as_json: bool) -> None:
    """Merge the patch into the stored policy, validate, store, print the result."""
    if patch_text is not None and options.document:
        raise click.ClickException("--patch cannot be combined with other options")
    if patch_text is None and not options.document:
        raise click.ClickException(
            f"nothing to change: give options or --patch "
            f"(see passgate protection set {section} --help)"
        )
    patch = _read_patch(patch_text) if patch_text is not None else options.document
    with open_stores() as stores:
        service = AttackProtection(SettingsStore(stores.engine, cache_ttl_s=0))
        try:
            policy = service.update(_SECTIONS[section], patch).policy
        except PolicyError as exc:
            option = options.option_for(str(exc))
            hint = f" ({option})" if option else ""
            raise click.ClickException(f"{section}: {exc}{hint}; nothing changed") from None
    emit(as_json, policy.to_json(), lambda: _policy_text(policy))


def _common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option("--enabled/--disabled", "enabled", default=None),
            click.option(
                "--shield", "shields", multiple=True, metavar="SHIELD", help="Repeatable."
            ),
            click.option("--no-shields", is_flag=True, help="No shield: monitoring only."),
        ]
    ):
        fn = decorator(fn)
    return fn


def _allowlist_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--clear-allowlist", is_flag=True, help="Empty the allowlist.")(fn)
    return click.option(
        "--allowlist",
        "allowlist",
        multiple=True,
        metavar="IP_OR_CIDR",
        help="Repeatable; replaces the allowlist.",
    )(fn)


patch_option = click.option(
    "--patch",
    "patch_text",
    default=None,
    metavar="JSON",
    help="A Management API PATCH body ('-' reads it from stdin).",
)


@set_policy.command("brute-force")
@_common_options
@_allowlist_options
@click.option("--max-attempts", type=int, default=None, help="1 to 100.")
@click.option("--mode", default=None, metavar="count_per_identifier_and_ip|count_per_identifier")
@patch_option
@json_option
def set_brute_force(
    enabled: bool | None,
    shields: tuple[str, ...],
    no_shields: bool,
    allowlist: tuple[str, ...],
    clear_allowlist: bool,
    max_attempts: int | None,
    mode: str | None,
    patch_text: str | None,
    as_json: bool,
) -> None:
    """Brute-force protection; shields: block, user_notification."""
    patch = _Patch()
    patch.put("enabled", enabled, "--enabled/--disabled")
    patch.put_list("shields", shields, no_shields, "--shield|--no-shields")
    patch.put_list("allowlist", allowlist, clear_allowlist, "--allowlist|--clear-allowlist")
    patch.put("max_attempts", max_attempts, "--max-attempts")
    patch.put("mode", mode, "--mode")
    _apply("brute-force", patch, patch_text, as_json)


@set_policy.command("suspicious-ip")
@_common_options
@_allowlist_options
@click.option("--pre-login-max-attempts", type=int, default=None, help="1 to 2500.")
@click.option("--pre-login-rate", type=int, default=None, metavar="MS", help="34560 to 86400000.")
@click.option("--signup-max-attempts", type=int, default=None, help="1 to 72000.")
@click.option("--signup-rate", type=int, default=None, metavar="MS", help="1200 to 86400000.")
@patch_option
@json_option
def set_suspicious_ip(
    enabled: bool | None,
    shields: tuple[str, ...],
    no_shields: bool,
    allowlist: tuple[str, ...],
    clear_allowlist: bool,
    pre_login_max_attempts: int | None,
    pre_login_rate: int | None,
    signup_max_attempts: int | None,
    signup_rate: int | None,
    patch_text: str | None,
    as_json: bool,
) -> None:
    """Suspicious IP throttling; shields: block, admin_notification."""
    patch = _Patch()
    patch.put("enabled", enabled, "--enabled/--disabled")
    patch.put_list("shields", shields, no_shields, "--shield|--no-shields")
    patch.put_list("allowlist", allowlist, clear_allowlist, "--allowlist|--clear-allowlist")
    login, signup = "stage/pre-login", "stage/pre-user-registration"
    patch.put(f"{login}/max_attempts", pre_login_max_attempts, "--pre-login-max-attempts")
    patch.put(f"{login}/rate", pre_login_rate, "--pre-login-rate")
    patch.put(f"{signup}/max_attempts", signup_max_attempts, "--signup-max-attempts")
    patch.put(f"{signup}/rate", signup_rate, "--signup-rate")
    _apply("suspicious-ip", patch, patch_text, as_json)


@set_policy.command("breached-password")
@_common_options
@click.option(
    "--admin-frequency",
    "admin_frequency",
    multiple=True,
    metavar="immediately|daily|weekly|monthly",
    help="Repeatable.",
)
@click.option("--signup-shield", "signup_shields", multiple=True, metavar="SHIELD")
@click.option("--no-signup-shields", is_flag=True)
@click.option("--change-password-shield", "change_shields", multiple=True, metavar="SHIELD")
@click.option("--no-change-password-shields", is_flag=True)
@patch_option
@json_option
def set_breached_password(
    enabled: bool | None,
    shields: tuple[str, ...],
    no_shields: bool,
    admin_frequency: tuple[str, ...],
    signup_shields: tuple[str, ...],
    no_signup_shields: bool,
    change_shields: tuple[str, ...],
    no_change_password_shields: bool,
    patch_text: str | None,
    as_json: bool,
) -> None:
    """Breached password detection; shields: block, user_notification, admin_notification
    (signup and change-password stages: block, admin_notification)."""
    patch = _Patch()
    patch.put("enabled", enabled, "--enabled/--disabled")
    patch.put_list("shields", shields, no_shields, "--shield|--no-shields")
    if admin_frequency:
        patch.put("admin_notification_frequency", list(admin_frequency), "--admin-frequency")
    patch.put_list(
        "stage/pre-user-registration/shields",
        signup_shields,
        no_signup_shields,
        "--signup-shield|--no-signup-shields",
    )
    patch.put_list(
        "stage/pre-change-password/shields",
        change_shields,
        no_change_password_shields,
        "--change-password-shield|--no-change-password-shields",
    )
    _apply("breached-password", patch, patch_text, as_json)


@protection.group("admins")
def admins() -> None:
    """Administrator email addresses (suspicious-IP and breached-password notifications)."""


def _store_admins(emails: list[str], as_json: bool) -> None:
    with open_stores() as stores:
        stores.tenant.set(ADMIN_EMAILS_KEY, emails)
        stored = _admin_emails(stores)
    emit(as_json, {ADMIN_EMAILS_KEY: stored}, f"administrator emails: {_names(stored)}")


@admins.command("set")
@click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
@json_option
def set_admins(emails: tuple[str, ...], as_json: bool) -> None:
    """Replace the administrator emails with EMAIL... ."""
    unique: list[str] = []
    for email in (e.strip() for e in emails):
        check_email(email, suffix="; nothing changed")
        if canonical_identifier(email) not in (canonical_identifier(u) for u in unique):
            unique.append(email)
    _store_admins(unique, as_json)


@admins.command("clear")
@json_option
def clear_admins(as_json: bool) -> None:
    """Remove every administrator email (no administrator notification is sent)."""
    _store_admins([], as_json)
