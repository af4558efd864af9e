"""``passgate connections …``: database connections and their password policies, over the
Management API's service (the same checks, Auth0's option names).

``set`` changes only the options named on the command line (it reads the connection's
options, changes them and stores the whole object back); ``--options-json`` replaces the
whole options object, as a Management API PATCH does. Running servers apply a change
within 5 seconds. A refused value is one line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from passgate.cli.support import BadValue, Stores, emit, fields, json_option, open_stores, table
from passgate.domain.connection_options import MAX_HISTORY_SIZE, rules_of
from passgate.domain.models import Connection
from passgate.domain.password_policy import LEVELS
from passgate.errors import NotFound
from passgate.management.connection_edits import UNSET_POLICY, OptionEdits
from passgate.management.connections import (
    ConnectionChange,
    ConnectionQuery,
    ConnectionsService,
    NewConnection,
    connection_json,
)
from passgate.storage.connections import ConnectionStore, PasswordHistory
from passgate.storage.directory import DEFAULT_CONNECTION
from passgate.storage.tenant import DEFAULT_DIRECTORY

__all__ = ["connections"]

_HEADERS = ("ID", "NAME", "POLICY", "MIN", "HISTORY", "DICTIONARY", "SIGNUP", "CLIENTS")
_UNSET = UNSET_POLICY


def _service(stores: Stores) -> ConnectionsService:
    return ConnectionsService(
        ConnectionStore(stores.engine),
        PasswordHistory(stores.engine),
        default_directory=lambda: str(stores.tenant.get(DEFAULT_DIRECTORY, DEFAULT_CONNECTION)),
    )


def _find(service: ConnectionsService, name_or_id: str) -> Connection:
    """By id (``con_…``), else by name."""
    if name_or_id.startswith("con_"):
        with contextlib.suppress(NotFound):  # a name may look like an id
            return service.get(name_or_id)
    return service.by_name(name_or_id)


def _summary_row(document: dict[str, Any]) -> tuple[object, ...]:
    rules = rules_of(document["options"])
    return (
        document["id"],
        document["name"],
        document["options"].get("passwordPolicy") or "none",
        rules.strength.minimum,
        rules.history_size or "-",
        "on" if rules.dictionary else "-",
        "off" if rules.disable_signup else "on",
        len(document["enabled_clients"]),
    )


def _text(document: dict[str, Any]) -> str:
    options = document["options"]
    rules = rules_of(options)
    bounds = rules.username_bounds
    pairs: list[tuple[str, object]] = [
        ("id", document["id"]),
        ("name", document["name"]),
        ("display_name", document["display_name"]),
        ("strategy", document["strategy"]),
        ("passwordPolicy", options.get("passwordPolicy") or "none (not set)"),
        ("minimum length", rules.strength.minimum),
        ("password_history", f"last {rules.history_size}" if rules.history_size else "off"),
        (
            "password_dictionary",
            f"on ({len(rules.words)} own words)" if rules.dictionary else "off",
        ),
        ("password_no_personal_info", "on" if rules.no_personal_info else "off"),
        ("sign-up", "disabled" if rules.disable_signup else "enabled"),
        ("requires_username", "yes" if rules.requires_username else "no"),
        ("username length", f"{bounds[0]}..{bounds[1]}" if bounds else "-"),
        ("brute_force_protection", "on" if rules.brute_force else "off"),
        ("enabled_clients", ", ".join(document["enabled_clients"]) or "-"),
    ]
    policy = "\n".join("  " + line for line in rules.strength.summary().splitlines())
    return fields(pairs) + "\npolicy:\n" + policy


def _options_json(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise BadValue(f"--options-json is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadValue("--options-json must be a JSON object")
    return value


def _merge(options: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the command line's changes (``given``: flag -> value or None)."""
    words = given.pop("dictionary_words")
    edits = OptionEdits(dictionary_words=tuple(words) if words else None, **given)
    return edits.applied(options)


def _option_flags(fn: Any) -> Any:
    flags = [
        click.option(
            "--password-policy",
            type=click.Choice([*LEVELS, _UNSET]),
            default=None,
            help="Strength level (Auth0's passwordPolicy); 'unset' stores null (none).",
        ),
        click.option(
            "--min-length",
            type=click.IntRange(0, 128),
            default=None,
            help="Raise the level's minimum length to N (1-128; 0 removes it).",
        ),
        click.option(
            "--history-size",
            type=click.IntRange(0, MAX_HISTORY_SIZE),
            default=None,
            help=f"Refuse the last N passwords (1-{MAX_HISTORY_SIZE}; 0 turns history off).",
        ),
        click.option(
            "--dictionary/--no-dictionary",
            default=None,
            help="Refuse the 10,000 most common passwords and the connection's own words.",
        ),
        click.option(
            "--dictionary-word",
            "dictionary_words",
            multiple=True,
            metavar="WORD",
            help="The connection's own dictionary (repeatable; replaces the list).",
        ),
        click.option(
            "--personal-info-check/--no-personal-info-check",
            "personal_info",
            default=None,
            help="Refuse passwords holding the email's local part, the username or names.",
        ),
        click.option(
            "--signup/--no-signup", default=None, help="Allow public sign-up (disable_signup)."
        ),
        click.option(
            "--requires-username/--no-requires-username", default=None, help="Require a username."
        ),
        click.option("--username-min", type=click.IntRange(1, 128), default=None),
        click.option("--username-max", type=click.IntRange(1, 128), default=None),
        click.option(
            "--brute-force-protection/--no-brute-force-protection",
            "brute_force",
            default=None,
            help="Count failed logins against accounts of this connection.",
        ),
        click.option(
            "--options-json",
            default=None,
            metavar="JSON",
            help="Replace the whole options object (as a Management API PATCH does).",
        ),
    ]
    for flag in reversed(flags):
        fn = flag(fn)
    return fn


def _clients_flags(fn: Any) -> Any:
    fn = click.option("--all-clients", is_flag=True, help="Enable every client there is.")(fn)
    return click.option(
        "--client",
        "client_ids",
        multiple=True,
        metavar="CLIENT_ID",
        help="A client that may use the connection (repeatable; replaces the list).",
    )(fn)


@click.group()
def connections() -> None:
    """Database connections: password policy, history, dictionary, sign-up, clients."""


@connections.command("list")
@json_option
def list_connections(as_json: bool) -> None:
    """List the database connections and their policies."""
    with open_stores() as stores:
        found = [connection_json(c) for c in _service(stores).find(ConnectionQuery())]
    rows = [_summary_row(document) for document in found]
    emit(as_json, found, lambda: table(_HEADERS, rows, empty="no connections"))


@connections.command("show")
@click.argument("name_or_id", metavar="NAME|ID")
@json_option
def show(name_or_id: str, as_json: bool) -> None:
    """Show one connection: its options, the policy in words, its clients."""
    with open_stores() as stores:
        document = connection_json(_find(_service(stores), name_or_id))
    emit(as_json, document, lambda: _text(document))


@connections.command("create")
@click.argument("name")
@click.option("--display-name", default=None)
@_clients_flags
@_option_flags
@json_option
def create(
    name: str,
    display_name: str | None,
    client_ids: tuple[str, ...],
    all_clients: bool,
    options_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Create the database connection NAME (no client enabled unless --client or
    --all-clients; no options unless given: passwordPolicy none, as in Auth0)."""
    options = _merge(_options_json(options_json) if options_json else {}, given)
    body: dict[str, Any] = {"name": name, "strategy": "auth0", "options": options}
    if display_name is not None:
        body["display_name"] = display_name
    body["enabled_clients"] = list(client_ids)
    with open_stores() as stores:
        created = _service(stores).create(NewConnection.from_body(body), all_clients=all_clients)
    document = connection_json(created)
    emit(as_json, document, lambda: _text(document))


@connections.command("set")
@click.argument("name_or_id", metavar="NAME|ID")
@click.option("--display-name", default=None)
@_clients_flags
@_option_flags
@json_option
def set_connection(
    name_or_id: str,
    display_name: str | None,
    client_ids: tuple[str, ...],
    all_clients: bool,
    options_json: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Change a connection's options, display name or enabled clients."""
    with open_stores() as stores:
        service = _service(stores)
        current = _find(service, name_or_id)
        base = _options_json(options_json) if options_json else dict(current.options)
        body: dict[str, Any] = {"options": _merge(base, given)}
        if display_name is not None:
            body["display_name"] = display_name
        if all_clients:
            body["enabled_clients"] = [c.client_id for c in stores.applications.list_clients()]
        elif client_ids:
            body["enabled_clients"] = list(client_ids)
        updated = service.update(current.id, ConnectionChange.from_body(body))
    document = connection_json(updated)
    emit(as_json, document, lambda: _text(document))
