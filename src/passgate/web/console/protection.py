"""``/admin/attack-protection``: the three policies as forms, each saved as the
Management API's ``PATCH`` body through ``management.attack_protection`` (the policies'
own validation: a refused field is named, nothing is stored), with a summary of what the
policies do now in plain words."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passgate.domain.login import RequestContext
from passgate.domain.policy import (
    ADMIN_FREQUENCIES,
    BREACHED_SHIELDS,
    BREACHED_STAGE_SHIELDS,
    BRUTE_FORCE_MODES,
    BRUTE_FORCE_SHIELDS,
    THROTTLE_SHIELDS,
    BreachedPasswordPolicy,
    BruteForcePolicy,
    SuspiciousIpPolicy,
)
from passgate.errors import BadRequest
from passgate.management.attack_protection import (
    BREACHED_PASSWORD,
    BRUTE_FORCE,
    SUSPICIOUS_IP,
    AttackProtection,
)
from passgate.web.console.console import Console, Done
from passgate.web.console.forms import Form
from passgate.web.console.session import Visit

__all__ = ["protection_routes", "summary"]

_PATH = "/admin/attack-protection"


def _integer(form: Form, name: str, label: str) -> int:
    number = form.whole(name, label)
    if number is None:
        raise BadRequest(f"{label}: a whole number is expected, not ''")
    return number


def _chosen(form: Form, name: str, allowed: tuple[str, ...]) -> list[str]:
    """Checked boxes, in the policy's order; an unknown value is refused."""
    given = form.many(name)
    unknown = [value for value in given if value not in allowed]
    if unknown:
        raise BadRequest(f"{name}: unknown value {unknown[0][:40]!r}")
    return [value for value in allowed if value in given]


def _duration(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            value = seconds / size
            shown = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            return f"{shown} {unit}{'' if shown == '1' else 's'}"
    return f"{seconds:g} seconds"


def summary(
    brute: BruteForcePolicy, throttle: SuspiciousIpPolicy, breached: BreachedPasswordPolicy
) -> list[str]:
    """What the policies do now, one sentence each."""
    lines: list[str] = []
    if not brute.enabled:
        lines.append("Brute-force protection is off: failed logins are not counted.")
    else:
        per = (
            "each account from each IP"
            if brute.mode.endswith("_and_ip")
            else "each account, from any IP"
        )
        action = (
            "blocks further logins"
            if "block" in brute.shields
            else "only logs it (monitoring: no block shield)"
        )
        lines.append(
            f"After {brute.max_attempts} failed logins in a row for {per}, passgate "
            f"{action}; the block lasts 30 days after the last failure unless lifted."
            + (
                " The user gets an email with an unblock link."
                if "user_notification" in brute.shields
                else ""
            )
        )
    if not throttle.enabled:
        lines.append("Suspicious IP throttling is off.")
    else:
        stage = throttle.pre_login
        signup = throttle.pre_user_registration
        verb = "throttles" if "block" in throttle.shields else "only logs (monitoring)"
        lines.append(
            f"An IP that fails {stage.max_attempts} logins (any accounts) {verb} further "
            f"logins; it gets one attempt back every {_duration(stage.rate)}. Sign-ups: "
            f"{signup.max_attempts} per IP, one more every {_duration(signup.rate)}."
        )
    if not breached.enabled:
        lines.append("Breached password detection is off.")
    else:
        verb = "refuses" if "block" in breached.shields else "reports but allows"
        lines.append(
            f"A login with a password found in the breached-password corpus: passgate {verb} "
            "it. Sign-ups with one are "
            + ("refused" if "block" in breached.pre_user_registration_shields else "allowed")
            + ", and so are password changes to one"
            + (" (refused)." if "block" in breached.pre_change_password_shields else " (allowed).")
        )
    allowlisted = sorted({*brute.allowlist, *throttle.allowlist})
    if allowlisted:
        lines.append("Never counted or blocked: " + ", ".join(allowlisted) + ".")
    return lines


def _patch(section: str, form: Form) -> dict[str, Any]:
    if section == BRUTE_FORCE:
        return {
            "enabled": form.flag("enabled"),
            "shields": _chosen(form, "shields", BRUTE_FORCE_SHIELDS),
            "allowlist": form.lines("allowlist"),
            "mode": form.text("mode", max_length=64),
            "max_attempts": _integer(form, "max_attempts", "Failed logins before a block"),
        }
    if section == SUSPICIOUS_IP:
        return {
            "enabled": form.flag("enabled"),
            "shields": _chosen(form, "shields", THROTTLE_SHIELDS),
            "allowlist": form.lines("allowlist"),
            "stage": {
                "pre-login": {
                    "max_attempts": _integer(form, "login_max", "Failed logins per IP"),
                    "rate": _integer(form, "login_rate", "Login refill (ms)"),
                },
                "pre-user-registration": {
                    "max_attempts": _integer(form, "signup_max", "Sign-ups per IP"),
                    "rate": _integer(form, "signup_rate", "Sign-up refill (ms)"),
                },
            },
        }
    return {
        "enabled": form.flag("enabled"),
        "shields": _chosen(form, "shields", BREACHED_SHIELDS),
        "admin_notification_frequency": _chosen(form, "frequency", ADMIN_FREQUENCIES),
        "stage": {
            "pre-user-registration": {
                "shields": _chosen(form, "signup_shields", BREACHED_STAGE_SHIELDS)
            },
            "pre-change-password": {
                "shields": _chosen(form, "change_shields", BREACHED_STAGE_SHIELDS)
            },
        },
    }


def protection_routes(console: Console) -> list[Route]:
    service: AttackProtection = console.services.attack_protection

    async def page(request: Request, visit: Visit) -> Response:
        def read() -> tuple[Any, Any, Any]:
            return (
                service.get(BRUTE_FORCE),
                service.get(SUSPICIOUS_IP),
                service.get(BREACHED_PASSWORD),
            )

        brute, throttle, breached = await console.run_io(read)
        context = {
            "title": "Attack protection",
            "current": "protection",
            "brute": brute,
            "throttle": throttle,
            "breached": breached,
            "summary": summary(brute, throttle, breached),
            "modes": BRUTE_FORCE_MODES,
            "brute_shields": BRUTE_FORCE_SHIELDS,
            "throttle_shields": THROTTLE_SHIELDS,
            "breached_shields": BREACHED_SHIELDS,
            "stage_shields": BREACHED_STAGE_SHIELDS,
            "frequencies": ADMIN_FREQUENCIES,
            "done": request.query_params.get("done", ""),
        }
        return console.render(request, visit, "protection.html", context)

    def saver(section: str) -> Any:
        async def save(request: Request, visit: Visit, form: Form, context: RequestContext) -> Done:
            patch = _patch(section, form)
            done = await console.run_io(service.update, section, patch)
            return Done(changes=done.changes, redirect=f"{_PATH}?done={section}#{section}")

        return save

    titles = {
        BRUTE_FORCE: "Update Brute-force settings",
        SUSPICIOUS_IP: "Update Suspicious IP Throttling settings",
        BREACHED_PASSWORD: "Update Breached Password Detection settings",
    }
    return [
        console.page(_PATH, page),
        *(
            console.action(f"{_PATH}/{section}", saver(section), summary=title, back=_PATH)
            for section, title in titles.items()
        ),
    ]
