"""``passgate ip-blocks show|remove IP``: an IP's suspicious-IP buckets.

``show`` exits 0 whether or not the IP is blocked (the answer is ``blocked`` in the JSON);
``remove`` refills every bucket of the IP, as ``DELETE /api/v2/anomaly/blocks/ips/{ip}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from passgate.cli.protection import configured_counters, yes_no
from passgate.cli.support import (
    emit,
    json_option,
    open_stores,
    table,
)
from passgate.domain import ip_throttle
from passgate.domain.client_ip import parse_ip
from passgate.domain.clock import system_clock
from passgate.domain.policy import (
    SuspiciousIpPolicy,
)
from passgate.storage.counters import AttackCounters
from passgate.storage.settings_store import (
    SettingsStore,
)

__all__ = ["ip_address", "ip_blocks"]


# -- ip-blocks ------------------------------------------------------------------------


def ip_address(text: str) -> str:
    """``text`` as one IP address, or a usage error naming it."""
    address = parse_ip(text)
    if address is None:
        raise click.ClickException(f"not an IP address: {text!r}")
    return str(address)


def _buckets(
    counters: AttackCounters, policy: SuspiciousIpPolicy, ip: str, now: float
) -> dict[str, dict[str, Any]]:
    """Each stage's bucket for ``ip`` at ``now``: throttled, tokens left, retry-after (s)."""
    stages: dict[str, dict[str, Any]] = {}
    for stage in ip_throttle.STAGES:
        settings = ip_throttle.stage_settings(policy, stage)
        capacity, rate_s = settings.max_attempts, ip_throttle.rate_seconds(settings.rate)
        tat = counters.bucket_tat(ip, stage)
        stages[stage] = {
            "throttled": not ip_throttle.has_token(tat, now, capacity, rate_s),
            "remaining": ip_throttle.remaining_tokens(tat, now, capacity, rate_s),
            "max_attempts": capacity,
            "retry_after": round(ip_throttle.retry_after(tat, now, capacity, rate_s), 3),
        }
    return stages


def _throttled(stages: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [stage for stage, bucket in stages.items() if bucket["throttled"]]


_MODE_NOTES = {
    ip_throttle.ThrottleMode.ENFORCE: "",
    ip_throttle.ThrottleMode.MONITOR: " (monitoring only: the block shield is off)",
    ip_throttle.ThrottleMode.OFF: " (throttling is disabled or the IP is allowlisted)",
}


def _ip_text(
    ip: str, blocked: bool, mode: ip_throttle.ThrottleMode, stages: Mapping[str, Mapping[str, Any]]
) -> str:
    state = "blocked" if blocked else "not blocked"
    rows = [
        (
            stage,
            yes_no(bucket["throttled"]),
            f"{bucket['remaining']}/{bucket['max_attempts']}",
            f"{bucket['retry_after']} s" if bucket["throttled"] else None,
        )
        for stage, bucket in stages.items()
    ]
    headers = ("STAGE", "THROTTLED", "TOKENS", "RETRY_AFTER")
    return f"{ip}: {state}{_MODE_NOTES[mode]}\n\n{table(headers, rows, empty='')}"


@click.group("ip-blocks")
def ip_blocks() -> None:
    """Suspicious IP throttling: an IP's token buckets (pre-login, pre-user-registration)."""


@ip_blocks.command("show")
@click.argument("ip")
@json_option
def show_ip(ip: str, as_json: bool) -> None:
    """Whether IP is throttled now, per stage, with tokens left and retry-after.

    ``blocked`` is true when a stage's bucket is empty and throttling blocks this IP (it
    is enabled, has the block shield, and the IP is not allowlisted). Exits 0 either way.
    """
    now = system_clock()
    address = ip_address(ip)
    with open_stores() as stores:
        policy = SettingsStore(stores.engine).get_suspicious_ip()
        with configured_counters(stores.settings, stores.engine) as counters:
            stages = _buckets(counters, policy, address, now)
    mode = ip_throttle.throttle_mode(policy, address)
    blocked = mode is ip_throttle.ThrottleMode.ENFORCE and bool(_throttled(stages))
    emit(
        as_json,
        {"ip": address, "blocked": blocked, "throttling": mode.value, "stages": stages},
        lambda: _ip_text(address, blocked, mode, stages),
    )


@ip_blocks.command("remove")
@click.argument("ip")
@json_option
def remove_ip(ip: str, as_json: bool) -> None:
    """Refill IP's buckets (every stage, and its per-user login rate limits)."""
    now = system_clock()
    address = ip_address(ip)
    with open_stores() as stores:
        policy = SettingsStore(stores.engine).get_suspicious_ip()
        with configured_counters(stores.settings, stores.engine) as counters:
            throttled = _throttled(_buckets(counters, policy, address, now))
            refilled = counters.refill(address)
    if throttled:
        text = f"refilled the buckets of {address}; it was throttled for {', '.join(throttled)}"
    elif refilled:
        text = f"{address} was not throttled; its buckets are full again"
    else:
        text = f"{address} was not throttled; nothing to refill"
    emit(
        as_json,
        {
            "ip": address,
            "was_throttled": bool(throttled),
            "throttled_stages": throttled,
            "refilled": refilled,
        },
        text,
    )
