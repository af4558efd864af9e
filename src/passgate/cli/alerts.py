"""``passgate alerts …`` and ``passgate dashboard``.

* ``alerts show`` / ``alerts set`` read and change the security alerts' thresholds in
  their Management API shape (``/api/v2/passgate/security-alerts``); a refused value
  changes nothing. ``alerts list`` shows the alerts sent lately.
* ``dashboard`` prints the attack dashboard of a window (``/api/v2/passgate/dashboard``),
  after rolling up the events not counted yet (and sending the alerts they call for,
  as a server would).

Running servers see a threshold change within their settings cache time (1 s).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from passgate.cli.protection import ADMIN_EMAILS_KEY
from passgate.cli.support import Stores, emit, fields, iso_time, json_option, open_stores, table
from passgate.domain.clock import system_clock
from passgate.domain.policy import PolicyError
from passgate.domain.rollups import HOUR_S, SERIES, WINDOWS, hour_of
from passgate.domain.security_alerts import TITLES, AlertPolicy
from passgate.mail.mailer import mailer_from_settings
from passgate.management.dashboard import DEFAULT_WINDOW, Dashboard
from passgate.management.errors import InvalidQuery
from passgate.management.security_alerts import AlertSettings
from passgate.protection.alerts import SecurityAlerts, read_alert_policy
from passgate.storage.event_rollups import EventRollups
from passgate.storage.security_alerts import AlertClaims
from passgate.storage.settings_store import SettingsStore

__all__ = ["alerts", "dashboard"]

#: ``alerts set`` options: option -> (kind, field).
_THRESHOLD_OPTIONS = {
    "stuffing_failures": ("credential_stuffing", "failed_logins_per_hour"),
    "stuffing_accounts": ("credential_stuffing", "min_accounts"),
    "signups": ("signup_attack", "signups_per_hour"),
    "breached": ("breached_passwords", "hits_per_hour"),
}
_OPTION_NAMES = {
    "credential_stuffing.failed_logins_per_hour": "--credential-stuffing-failures",
    "credential_stuffing.min_accounts": "--credential-stuffing-accounts",
    "signup_attack.signups_per_hour": "--signups",
    "breached_passwords.hits_per_hour": "--breached",
    "webhook_url": "--webhook-url",
}


def _policy_text(policy: AlertPolicy) -> str:
    def on(flag: bool) -> str:
        return "on" if flag else "off"

    stuffing = policy.threshold("credential_stuffing")
    return fields(
        [
            ("alerts", on(policy.enabled)),
            (
                "credential stuffing",
                f"{on(policy.kinds['credential_stuffing'])}: "
                f"{stuffing['failed_logins_per_hour']} failed logins against "
                f"{stuffing['min_accounts']} accounts in an hour",
            ),
            (
                "sign-up attack",
                f"{on(policy.kinds['signup_attack'])}: "
                f"{policy.threshold('signup_attack')['signups_per_hour']} sign-up attempts "
                "in an hour",
            ),
            (
                "breached passwords",
                f"{on(policy.kinds['breached_passwords'])}: "
                f"{policy.threshold('breached_passwords')['hits_per_hour']} detections in "
                "an hour",
            ),
            ("webhook", policy.webhook_url or "(none)"),
        ]
    )


@click.group()
def alerts() -> None:
    """Security alerts: thresholds per hour for credential stuffing, sign-up attacks and
    breached passwords; one email to the administrators, one webhook call and one event
    per threat and hour."""


@alerts.command("show")
@json_option
def show_alerts(as_json: bool) -> None:
    """Show the thresholds (the Management API shape) and who gets the emails."""
    with open_stores() as stores:
        policy = AlertSettings(SettingsStore(stores.engine, cache_ttl_s=0)).get()
        admins = _admins(stores)
    document = {**policy.to_json(), ADMIN_EMAILS_KEY: admins}
    to = ", ".join(admins) if admins else "(nobody: passgate protection admins set EMAIL)"
    emit(as_json, document, lambda: _policy_text(policy) + f"\nemails to: {to}")


def _admins(stores: Stores) -> list[str]:
    value = stores.tenant.get(ADMIN_EMAILS_KEY, [])
    return [str(item) for item in value] if isinstance(value, list) else []


@alerts.command("set")
@click.option("--enabled/--disabled", "enabled", default=None, help="Every alert on or off.")
@click.option(
    "--credential-stuffing/--no-credential-stuffing", "stuffing", default=None, help="That one."
)
@click.option("--signup-attack/--no-signup-attack", "signup", default=None, help="That one.")
@click.option(
    "--breached-passwords/--no-breached-passwords", "breached_on", default=None, help="That one."
)
@click.option("--credential-stuffing-failures", "stuffing_failures", type=int, default=None,
              metavar="N", help="Failed logins in an hour…")  # fmt: skip
@click.option("--credential-stuffing-accounts", "stuffing_accounts", type=int, default=None,
              metavar="N", help="…against at least this many accounts.")  # fmt: skip
@click.option("--signups", type=int, default=None, metavar="N",
              help="Sign-up attempts in an hour.")  # fmt: skip
@click.option("--breached", type=int, default=None, metavar="N",
              help="Breached-password detections in an hour.")  # fmt: skip
@click.option("--webhook-url", default=None, metavar="URL", help="POST each alert here.")
@click.option("--no-webhook", is_flag=True, help="Remove the webhook.")
@click.option("--patch", "patch_text", default=None, metavar="JSON",
              help="A Management API PATCH body ('-' reads it from stdin).")  # fmt: skip
@json_option
def set_alerts(
    enabled: bool | None,
    stuffing: bool | None,
    signup: bool | None,
    breached_on: bool | None,
    webhook_url: str | None,
    no_webhook: bool,
    patch_text: str | None,
    as_json: bool,
    **thresholds: int | None,
) -> None:
    """Change the thresholds (all per hour; 1 to 10,000,000). Options left out keep their
    value."""
    document: dict[str, Any] = {}
    if enabled is not None:
        document["enabled"] = enabled
    for kind, flag in (
        ("credential_stuffing", stuffing),
        ("signup_attack", signup),
        ("breached_passwords", breached_on),
    ):
        if flag is not None:
            document.setdefault(kind, {})["enabled"] = flag
    for option, value in thresholds.items():
        if value is not None:
            kind, field = _THRESHOLD_OPTIONS[option]
            document.setdefault(kind, {})[field] = value
    if webhook_url is not None and no_webhook:
        raise click.ClickException("--webhook-url and --no-webhook cannot be combined")
    if webhook_url is not None or no_webhook:
        document["webhook_url"] = webhook_url
    if patch_text is not None:
        if document:
            raise click.ClickException("--patch cannot be combined with other options")
        text = sys.stdin.read() if patch_text == "-" else patch_text
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"--patch is not valid JSON: {exc}") from None
    elif not document:
        raise click.ClickException(
            "nothing to change: give options or --patch (see passgate alerts set --help)"
        )
    with open_stores() as stores:
        service = AlertSettings(SettingsStore(stores.engine, cache_ttl_s=0))
        try:
            policy, _ = service.update(document)
        except PolicyError as exc:
            named = _OPTION_NAMES.get(str(exc).split(":", 1)[0])
            hint = f" ({named})" if named and patch_text is None else ""
            raise click.ClickException(f"{exc}{hint}; nothing changed") from None
    emit(as_json, policy.to_json(), lambda: _policy_text(policy))


@alerts.command("list")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True)
@json_option
def list_alerts(days: int, as_json: bool) -> None:
    """The alerts sent in the last DAYS days, newest first."""
    with open_stores() as stores:
        sent = AlertClaims(stores.engine).since(hour_of(system_clock()) - days * 24)
    rows = [
        {
            "kind": alert.kind,
            "hour": iso_time(alert.hour * HOUR_S),
            "date": iso_time(alert.fired_at),
            **alert.details,
        }
        for alert in sent
    ]
    emit(
        as_json,
        rows,
        lambda: table(
            ["hour (UTC)", "threat", "sent"],
            [[row["hour"], TITLES.get(row["kind"], row["kind"]), row["date"]] for row in rows],
            empty=f"No security alert in the last {days} days.",
        ),
    )


def _dashboard_text(report: dict[str, Any]) -> str:
    names = list(SERIES)
    series = table(
        ["start", *names],
        [[bucket["start"], *(bucket[name] for name in names)] for bucket in report["series"]],
        empty="",
    )
    ips = table(
        ["ip", "failed logins", "sign-ups", "blocks", "breached", "total"],
        [
            [r["ip"], r["failed_logins"], r["signups"], r["blocks"], r["breached"], r["total"]]
            for r in report["top_ips"]
        ],
        empty="(none)",
    )
    accounts = table(
        ["account", "failed logins", "blocks", "breached", "total"],
        [
            [r["account"], r["failed_logins"], r["blocks"], r["breached"], r["total"]]
            for r in report["top_accounts"]
        ],
        empty="(none)",
    )
    threats = []
    for threat in report["threats"]:
        limits = ", ".join(f"{k} {v}" for k, v in threat["threshold"].items())
        state = (
            f"DETECTED in {threat['hours']} hour(s): {threat['description']}"
            if threat["detected"]
            else "not detected"
        )
        threats.append(f"  {threat['title']}: {state} [threshold: {limits}]")
    return "\n\n".join(
        [
            f"Attack dashboard, {report['window']} per {report['bucket']} "
            f"({report['from']} to {report['to']})",
            series,
            "Totals: " + ", ".join(f"{k} {v}" for k, v in report["totals"].items()),
            "Threats:\n" + "\n".join(threats),
            "Top IPs:\n" + ips,
            "Most-targeted accounts:\n" + accounts,
        ]
    )


@click.command()
@click.option(
    "--window",
    type=click.Choice(list(WINDOWS)),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="24h per hour, 7d or 30d per UTC day.",
)
@json_option
def dashboard(window: str, as_json: bool) -> None:
    """The attack dashboard: logins, failures, blocks, throttles, breached passwords and
    sign-ups; top IPs, most-targeted accounts and threats (the events not counted yet
    are rolled up first)."""
    with open_stores(create=False) as stores:
        store = SettingsStore(stores.engine, cache_ttl_s=0)
        watch = SecurityAlerts(
            rollups=EventRollups(stores.engine),
            claims=AlertClaims(stores.engine),
            policy=lambda: read_alert_policy(store),
            mailer=mailer_from_settings(stores.settings),
            admin_emails=lambda: _admins(stores),
            events=stores.events,
            clock=system_clock,
            public_url=(stores.settings.public_url or stores.settings.issuer or "").rstrip("/"),
        )
        watch.tick()
        try:
            report = Dashboard.of(watch, clock=system_clock).report(window)
        except InvalidQuery as exc:  # pragma: no cover - click checks the choice
            raise click.BadParameter(exc.message, param_hint="'--window'") from None
    emit(as_json, report, lambda: _dashboard_text(report))
