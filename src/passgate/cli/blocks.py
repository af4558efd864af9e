"""``passgate blocks list|remove``: brute-force blocks from the command line.

An identifier names its account: ``blocks remove alice`` releases the blocks counted
against the account that ``alice`` (its username, its email, any spelling of them, or its
user id) resolves to, in every connection, and those counted under the identifier itself
(before the account existed), through :class:`~passgate.protection.unblock.BlockReleases`.
Each released block writes a ``ublkdu`` event. Removing nothing is not an error (exit 0,
"no block found"), like ``DELETE /api/v2/user-blocks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from passgate.cli.ip_blocks import ip_address
from passgate.cli.protection import configured_counters
from passgate.cli.support import emit, iso_time, json_option, open_stores, table
from passgate.domain.brute_force import block_ends_at
from passgate.domain.clock import system_clock
from passgate.domain.identifiers import canonical_identifier
from passgate.protection.subjects import account_subjects
from passgate.protection.unblock import (
    ADMINISTRATOR_CLI,
    BlockReleases,
    ReleasedBy,
    blocks_enforced,
    current_blocks,
)
from passgate.storage.counters import BlockRecord
from passgate.storage.settings_store import SettingsStore

__all__ = ["blocks"]


def _block_json(record: BlockRecord) -> dict[str, Any]:
    return {
        "identifier": record.identifier,
        "ip": record.ip,
        "connection": record.connection,
        "user_id": record.user_id,
        "failures": record.failures,
        "last_failure": iso_time(record.last_failure),
        "blocked_until": iso_time(block_ends_at(record.last_failure)),
    }


def _blocks_table(rows: Sequence[Mapping[str, Any]], empty: str) -> str:
    headers = ("IDENTIFIER", "IP", "CONNECTION", "FAILURES", "LAST_FAILURE", "BLOCKED_UNTIL")
    cells = [[row[h.lower()] for h in headers] for row in rows]
    return table(headers, cells, empty=empty)


def _one_identifier(argument: str | None, option: str | None) -> str:
    if argument is not None and option is not None and argument != option:
        raise click.UsageError("give the identifier once (IDENTIFIER or --identifier)")
    identifier = argument if argument is not None else option
    if identifier is None or not identifier.strip():
        raise click.UsageError("missing IDENTIFIER (an email, username or user id)")
    return identifier


@click.group()
def blocks() -> None:
    """Brute-force blocks (accounts blocked after consecutive failed logins)."""


@blocks.command("list")
@click.option("--identifier", default=None, help="Only this account (email, username or id).")
@json_option
def list_blocks(identifier: str | None, as_json: bool) -> None:
    """List current blocks; each ends 30 days after its last failure."""
    now = system_clock()
    with open_stores() as stores:
        wanted = (
            account_subjects(stores.directory, identifier)[0] if identifier is not None else None
        )
        policy = SettingsStore(stores.engine).get_brute_force()
        with configured_counters(stores.settings, stores.engine) as counters:
            found = current_blocks(counters, policy, wanted, now)
    rows = [_block_json(record) for record in found]
    enforced = blocks_enforced(policy)
    if not as_json and rows and not enforced:
        click.echo(
            "note: brute-force protection is not blocking now (disabled or no block shield)",
            err=True,
        )
    emit(
        as_json,
        {"blocked_for": rows, "enforced": enforced},
        lambda: _blocks_table(rows, "no block found"),
    )


@blocks.command("remove")
@click.argument("identifier_argument", metavar="IDENTIFIER", required=False)
@click.option("--identifier", default=None, help="The same as IDENTIFIER (older form).")
@click.option("--ip", default=None, help="Only the block of this IP address.")
@click.option("--connection", default=None, help="Only the blocks in this connection.")
@json_option
def remove_blocks(
    identifier_argument: str | None,
    identifier: str | None,
    ip: str | None,
    connection: str | None,
    as_json: bool,
) -> None:
    """Release the blocks of IDENTIFIER's account: an email, username or user id (one
    IP's / one connection's when given).

    Each released block writes a ``ublkdu`` event. Finding no block is not an error: it
    prints "no block found" and exits 0. Failures counted below the threshold are reset
    too (``reset_counters``).
    """
    given = _one_identifier(identifier_argument, identifier)
    shown = canonical_identifier(given)
    address = ip_address(ip) if ip is not None else None
    with (
        open_stores() as stores,
        configured_counters(stores.settings, stores.engine) as counters,
    ):
        released = BlockReleases(
            counters=counters,
            directory=stores.directory,
            policies=SettingsStore(stores.engine),
            events=stores.events,
            clock=system_clock,
        ).release(given, ReleasedBy(ADMINISTRATOR_CLI), ip=address, connection=connection)
    rows = [_block_json(record) for record in released.blocks]
    where = "".join(
        [f" from {address}" if address else "", f" in {connection}" if connection else ""]
    )
    emit(
        as_json,
        {"identifier": shown, "released": rows, "reset_counters": released.reset},
        lambda: (
            f"released {len(rows)} block(s) of {shown}{where}\n\n" + _blocks_table(rows, empty="")
            if rows
            else f"no block found for {shown}{where}"
        ),
    )
