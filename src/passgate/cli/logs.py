"""``passgate logs``: the event log, filtered, and followed as it grows.

The filters and ``--q`` (the Management API's search syntax) make one search, run by the
same service as ``GET /api/v2/logs`` (:mod:`passgate.management.logs`). Readable lines
carry the details as JSON; ``--json`` prints one JSON document (a list, newest first), or
with ``--follow`` one JSON object per line (oldest first, as lines come). ``--follow``
reads the log every second until interrupted; Ctrl-C ends it with status 0.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence

import click

from passgate.cli.support import emit, iso_time, json_option, open_stores
from passgate.domain.client_ip import ip_text
from passgate.domain.clock import system_clock
from passgate.domain.events import Event
from passgate.domain.log_dates import parse_since
from passgate.domain.log_query import (
    AnyCase,
    DateSpan,
    InvalidLogRequest,
    Node,
    Term,
    all_of,
    any_of,
)
from passgate.management.logs import LogService, parse_search
from passgate.storage.event_search import EventSearch

__all__ = ["logs", "parse_since"]

#: How often ``--follow`` reads the log, and how many events at most at a time.
POLL_S = 1.0
FOLLOW_BATCH = 1000


def _since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_since(value, system_clock())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (30m, 1h, 2d, 1w) nor an ISO 8601 date or "
            "time (2025-01-31, 2025-01-31T08:00:00Z)"
        ) from None


def _ip_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    address = ip_text(value)
    if address is None:
        raise click.BadParameter(f"not an IP address: {value!r}")
    return address


def event_line(event: Event) -> str:
    """One readable line: date, type, IPs, user, client, description, details as JSON."""
    who = event.user_name or event.user_id or "-"
    ip = event.ip or "-"
    if event.client_ip and event.client_ip != event.ip:
        ip = f"{ip} (via {event.client_ip})"
    client = event.client_name or event.client_id or "-"
    text = (
        f"{iso_time(event.date)}  {event.type:<8} {ip:<15} user={who} client={client}"
        f"  {event.description}"
    )
    if event.details:
        details = json.dumps(dict(event.details), ensure_ascii=False, sort_keys=True, default=str)
        text += f"  {details}"
    return text


def _print(event: Event, as_json: bool) -> None:
    click.echo(json.dumps(event.to_json(), ensure_ascii=False) if as_json else event_line(event))


def _where(
    query: Node | None,
    types: Sequence[str],
    since: float | None,
    ip: str | None,
    user: str | None,
    client: str | None,
) -> Node | None:
    """What the options ask for, as one search: every given option must match."""
    return all_of(
        query,
        any_of(*(Term("type", code) for code in types)) if types else None,
        None if since is None else DateSpan(math.floor(since * 1000), None),
        None if ip is None else any_of(Term("ip", ip), Term("client_ip", ip)),
        None if user is None else any_of(Term("user_id", user), AnyCase("user_name", user)),
        None if client is None else any_of(Term("client_id", client), Term("client_name", client)),
    )


def _follow(logs: LogService, where: Node | None, limit: int, as_json: bool) -> None:
    """The newest ``limit`` events, then each event as it is written. The log numbers
    events in the order they commit, so reading on from the last position misses none."""
    position = logs.end()
    shown = list(reversed(logs.newest(where, limit)))
    for event in shown:
        _print(event, as_json)
    sys.stdout.flush()
    printed = {event.log_id for event in shown}
    while True:
        found, position = logs.after(position, where, FOLLOW_BATCH)
        for event in found:
            if event.log_id not in printed:
                _print(event, as_json)
        sys.stdout.flush()
        printed.clear()  # only the first read can meet what was shown before it
        if len(found) < FOLLOW_BATCH:
            time.sleep(POLL_S)


def _query_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Node | None:
    if value is None:
        return None
    try:
        return parse_search(value, "--q")
    except InvalidLogRequest as exc:
        raise click.BadParameter(str(exc).removeprefix("--q: ")) from None


@click.command()
@click.option(
    "--type", "types", multiple=True, metavar="CODE", help="Only this event type (repeatable)."
)
@click.option(
    "--since",
    callback=_since_option,
    metavar="TIME",
    help="Only events from then on: a duration back from now (30m, 1h, 2d, 1w) or an "
    "ISO 8601 date or time (UTC unless it has an offset).",
)
@click.option("--ip", callback=_ip_option, help="Only events of this IP (end user or connecting).")
@click.option(
    "--user", default=None, help="Only events of this user id, or email/username (any case)."
)
@click.option("--client", default=None, help="Only events of this client id or name.")
@click.option(
    "--q",
    "query",
    callback=_query_option,
    metavar="QUERY",
    help="Only events this search finds, in the Management API's syntax (type:fepft AND "
    'ip:"203.0.113.5", user_name:jo*, date:[2025-01-31 TO *]).',
)
@click.option("--follow", "-f", is_flag=True, help="Then print new events as they come.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
def logs(
    types: tuple[str, ...],
    since: float | None,
    ip: str | None,
    user: str | None,
    client: str | None,
    query: Node | None,
    follow: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Show the event log, newest first (with --follow: oldest first, then new events
    until Ctrl-C; --json then prints one JSON object per line)."""
    where = _where(query, types, since, ip, user, client)
    with open_stores() as stores:
        service = LogService(search=EventSearch(stores.engine))
        if follow:
            try:
                _follow(service, where, limit, as_json)
            except KeyboardInterrupt:
                return
        found = service.newest(where, limit)
    emit(
        as_json,
        [event.to_json() for event in found],
        lambda: "\n".join(event_line(e) for e in found) if found else "no events",
    )
