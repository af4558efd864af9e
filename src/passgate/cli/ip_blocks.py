"""``passgate ip-blocks show|remove IP``: an IP's suspicious-IP buckets.

``show`` exits 0 whether or not the IP is blocked (the answer is ``blocked`` in the JSON);
``remove`` refills every bucket of the IP, as ``DELETE /api/v2/anomaly/blocks/ips/{ip}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click

from passgate.cli.protection import configured_counters, yes_no
from passgate.cli.support import Stores, emit, json_option, open_stores, table
from passgate.domain import ip_throttle
from passgate.domain.client_ip import parse_ip
from passgate.domain.clock import system_clock
from passgate.management.ip_blocks import IpBlocks, IpStatus
from passgate.storage.settings_store import SettingsStore

__all__ = ["ip_address", "ip_blocks"]


# -- ip-blocks ------------------------------------------------------------------------


def ip_address(text: str) -> str:
    """``text`` as one IP address, or a usage error naming it."""
    address = parse_ip(text)
    if address is None:
        raise click.ClickException(f"not an IP address: {text!r}")
    return str(address)


_MODE_NOTES = {
    ip_throttle.ThrottleMode.ENFORCE: "",
    ip_throttle.ThrottleMode.MONITOR: " (monitoring only: the block shield is off)",
    ip_throttle.ThrottleMode.OFF: " (throttling is disabled or the IP is allowlisted)",
}


def _ip_text(status: IpStatus) -> str:
    state = "blocked" if status.blocked else "not blocked"
    rows = [
        (
            stage,
            yes_no(bucket.throttled),
            f"{bucket.remaining}/{bucket.max_attempts}",
            f"{round(bucket.retry_after, 3)} s" if bucket.throttled else None,
        )
        for stage, bucket in status.stages.items()
    ]
    headers = ("STAGE", "THROTTLED", "TOKENS", "RETRY_AFTER")
    return f"{status.ip}: {state}{_MODE_NOTES[status.mode]}\n\n{table(headers, rows, empty='')}"


@contextlib.contextmanager
def _ip_blocks(stores: Stores) -> Iterator[IpBlocks]:
    """The IP-blocks service over the configured counters and the stored policy."""
    with configured_counters(stores.settings, stores.engine) as counters:
        yield IpBlocks(
            counters=counters,
            policy=SettingsStore(stores.engine).get_suspicious_ip,
            clock=system_clock,
        )


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
    address = ip_address(ip)
    with open_stores() as stores, _ip_blocks(stores) as service:
        status = service.status(address)
    document = {
        "ip": address,
        "blocked": status.blocked,
        "throttling": status.mode.value,
        "stages": {stage: bucket.to_json() for stage, bucket in status.stages.items()},
    }
    emit(as_json, document, lambda: _ip_text(status))


@ip_blocks.command("remove")
@click.argument("ip")
@json_option
def remove_ip(ip: str, as_json: bool) -> None:
    """Refill IP's buckets (every stage, and its per-user login rate limits)."""
    address = ip_address(ip)
    with open_stores() as stores, _ip_blocks(stores) as service:
        done = service.unblock(address)
    throttled, refilled = done.throttled_stages, done.refilled
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
