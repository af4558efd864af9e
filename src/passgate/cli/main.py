"""The ``passgate`` command: it works directly on the configured database.

Every command takes ``--json`` for one JSON document on stdout; errors are a message on
stderr and exit code 1. Command groups live in ``cli_*`` modules and are registered here;
more are added with ``main.add_command(group)``.
"""

from __future__ import annotations

from typing import Any

import click

from passgate import __version__
from passgate.cli.admins import admins
from passgate.cli.alerts import alerts, dashboard
from passgate.cli.applications import apis, clients
from passgate.cli.blocks import blocks
from passgate.cli.breached import breached
from passgate.cli.client_grants import client_grants
from passgate.cli.connections import connections
from passgate.cli.doctor import doctor
from passgate.cli.ip_blocks import ip_blocks
from passgate.cli.issuer import issuer
from passgate.cli.log_streams import log_streams
from passgate.cli.logs import logs
from passgate.cli.protection import protection
from passgate.cli.quickstart import quickstart
from passgate.cli.serve import serve
from passgate.cli.support import (
    emit,
    iso_time,
    json_option,
    load_settings,
    open_stores,
    plural,
    refusals,
    say_where,
    sqlite_file,
    table,
)
from passgate.cli.user_import import export_users, import_users
from passgate.cli.users import users
from passgate.keys.ring import ALGORITHMS, KeyRing
from passgate.storage.db import current_revision, make_engine
from passgate.storage.db import migrate as migrate_schema
from passgate.storage.tokens import SigningKeys
from passgate.support.key_encryption import (
    ENV_VARIABLE,
    KeyEncryptionKey,
    KeyEncryptionKeys,
    write_key_file,
)

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="passgate", message="%(prog)s %(version)s"
)
def main() -> None:
    """passgate: a token service for the password grant, with attack protection.

    Settings come from PASSGATE_* environment variables (PASSGATE_DATA_DIR,
    PASSGATE_DATABASE_URL, ...).
    """


@main.command()
@json_option
def migrate(as_json: bool) -> None:
    """Apply database migrations (also done on every start); say which were applied.

    Creates the database (and the data directory) when there is none yet.
    """
    from passgate.storage.setup import open_database

    settings = load_settings()
    database = sqlite_file(settings)
    say_where(settings, created=database is not None and not database.exists())
    with refusals():
        if settings.uses_sqlite:
            settings.prepare_data_dir()
        engine = make_engine(settings.sql_url)
        try:
            created = current_revision(engine) is None
            applied = migrate_schema(engine)
            revision = current_revision(engine)
        finally:
            engine.dispose()
        open_database(settings).dispose()  # what every start does after migrating
    status = "migrated" if applied else "already up to date"
    document = {"status": status, "applied": applied, "revision": revision, "created": created}
    emit(as_json, document, lambda: _migrate_text(applied, revision))


def _migrate_text(applied: list[str], revision: str | None) -> str:
    if not applied:
        return f"already up to date (revision {revision})"
    lines = [f"applied {plural(len(applied), 'migration', 'migrations')}:"]
    lines += [f"  {line}" for line in applied]
    return "\n".join([*lines, f"now at revision {revision}"])


@main.group()
def keys() -> None:
    """Token signing keys."""


def _key_rows(store: SigningKeys) -> list[dict[str, Any]]:
    return [
        {
            "kid": record.kid,
            "alg": record.alg,
            "status": "revoked"
            if record.revoked_at is not None
            else "active"
            if record.retired_at is None
            else "retired",
            "created_at": iso_time(record.created_at),
            "retired_at": iso_time(record.retired_at),
            "kek_id": record.kek_id,
        }
        for record in store.all()
    ]


def _keys_table(rows: list[dict[str, Any]]) -> str:
    return table(
        ("KID", "ALG", "STATUS", "CREATED_AT", "RETIRED_AT", "SEALED_WITH"),
        [
            (r["kid"], r["alg"], r["status"], r["created_at"], r["retired_at"], r["kek_id"])
            for r in rows
        ],
        empty="no signing keys yet (they are made at the first start)",
    )


@keys.command("list")
@json_option
def list_keys(as_json: bool) -> None:
    """List signing keys (ids, state and the id of the key-encryption key that seals each;
    never private material)."""
    with open_stores() as stores:
        rows = _key_rows(SigningKeys(stores.engine))
    emit(as_json, rows, lambda: _keys_table(rows))


@keys.command("rotate")
@click.option("--alg", default=None, metavar="[RS256|ES256]", help="Default: both.")
@json_option
def rotate_keys(alg: str | None, as_json: bool) -> None:
    """Make new active signing keys.

    Retired keys stay in the JWKS until every token they signed has expired. Running
    servers pick the new keys up within seconds.
    """
    if alg is not None and alg not in ALGORITHMS:
        raise click.ClickException(f"--alg must be one of {', '.join(ALGORITHMS)}")
    from passgate.keys.startup import key_encryption_keys

    with open_stores() as stores, refusals():
        store = SigningKeys(stores.engine)
        ring = KeyRing(store, sealer=key_encryption_keys(stores.settings, store))
        kids = ring.rotate(alg)
        rows = _key_rows(store)
        published = [key["kid"] for key in ring.jwks()["keys"]]
    emit(
        as_json,
        {"rotated": kids, "keys": rows, "jwks_kids": published},
        lambda: f"new active key(s): {', '.join(kids)}\n\n{_keys_table(rows)}",
    )


@keys.command("revoke")
@click.argument("kid")
@json_option
def revoke_key(kid: str, as_json: bool) -> None:
    """Revoke the retired signing key KID: it leaves the JWKS and the tokens it signed are
    refused (running servers within seconds). A current key is rotated out first."""
    from passgate.keys.issuer import ISSUER_KEY
    from passgate.keys.startup import key_encryption_keys
    from passgate.management.signing_keys import SigningKeysService

    with open_stores() as stores, refusals():
        store = SigningKeys(stores.engine)
        ring = KeyRing(store, sealer=key_encryption_keys(stores.settings, store))
        issuer = str(stores.tenant.get(ISSUER_KEY, ""))
        SigningKeysService(ring, issuer=issuer).revoke(kid)
        rows = _key_rows(store)
    emit(
        as_json,
        {"revoked": kid, "keys": rows},
        lambda: f"revoked {kid}\n\n{_keys_table(rows)}",
    )


@keys.command("rewrap")
@click.option(
    "--new-key",
    is_flag=True,
    help="First make a new key-encryption key in the data directory's key file "
    "(only when PASSGATE_KEY_ENCRYPTION_KEY is not set).",
)
@json_option
def rewrap_keys(new_key: bool, as_json: bool) -> None:
    """Encrypt every signing key and log stream authorization with the current
    key-encryption key.

    The current key is the first of PASSGATE_KEY_ENCRYPTION_KEY (or of the key file); the
    others listed there are accepted to decrypt. Every key is re-encrypted in one
    transaction; running servers keep working. With --new-key, a new key is put first in
    the key file, the keys are re-encrypted, and the old key is dropped from the file.
    """
    from passgate.keys.startup import key_encryption_keys
    from passgate.management.log_streams import LogStreamsService
    from passgate.storage.log_streams import LogStreams

    with open_stores() as stores, refusals():
        settings = stores.settings
        store = SigningKeys(stores.engine)
        sealer = key_encryption_keys(settings, store)
        if new_key:
            if settings.key_encryption_key is not None:
                raise click.ClickException(
                    f"--new-key changes the key file, but {ENV_VARIABLE} is set: put the new "
                    f"key first in {ENV_VARIABLE} on every instance, then run "
                    f"`passgate keys rewrap`"
                )
            fresh = KeyEncryptionKey.generate()
            # The old key stays accepted until every signing key is re-encrypted.
            write_key_file(settings.key_file, [fresh, *sealer.keys])
            sealer = KeyEncryptionKeys([fresh, *sealer.keys], source=sealer.source)
        changed = KeyRing(store, sealer=sealer).rewrap()
        streams = LogStreamsService(LogStreams(stores.engine), sealer=lambda: sealer)
        streams_changed = streams.rewrap()
        if new_key:
            write_key_file(settings.key_file, [sealer.current])
        rows = _key_rows(store)
        others = [row["kid"] for row in rows if row["kek_id"] != sealer.current.id] + [
            stream.id
            for stream in LogStreams(stores.engine).all()
            if stream.authorization_kek_id not in (None, sealer.current.id)
        ]
    if others:  # added meanwhile by a process with another current key
        raise click.ClickException(
            f"signing key(s) or log stream(s) {', '.join(others)} were added meanwhile "
            f"with another key-encryption key: give every instance the new key first, then "
            f"run this again"
        )
    emit(
        as_json,
        {
            "rewrapped": changed,
            "log_streams_rewrapped": streams_changed,
            "kek_id": sealer.current.id,
            "keys": rows,
        },
        lambda: (
            f"{changed} signing key(s) and {streams_changed} log stream authorization(s) "
            f"re-encrypted; every key is now encrypted with key-encryption key "
            f"{sealer.current.id}\n\n{_keys_table(rows)}"
        ),
    )


main.add_command(serve)
main.add_command(issuer)
main.add_command(logs)
main.add_command(quickstart)
main.add_command(clients)
users.add_command(import_users)
users.add_command(export_users)
main.add_command(users)
main.add_command(apis)
main.add_command(client_grants)
main.add_command(connections)
main.add_command(breached)
main.add_command(protection)
main.add_command(blocks)
main.add_command(ip_blocks)
main.add_command(doctor)
main.add_command(log_streams)
main.add_command(alerts)
main.add_command(dashboard)
main.add_command(admins)
