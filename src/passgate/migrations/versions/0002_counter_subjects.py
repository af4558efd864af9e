"""one canonical identifier; brute-force counters per account

Users' lookup keys become ``passgate.domain.identifiers.canonical_identifier`` (NFKC and full
case folding, where they were ``str.casefold``). Brute-force counters get a ``subject``
(the account, or the canonical identifier that matches none) and the account's
``user_id``; their keys become ``<mode>:<subject>[:<ip>]``. Counters kept before are
re-keyed, and those of spellings of one account merged (the most failures, the latest
failure), so no block is lost by the upgrade.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from passgate.domain.brute_force import attempt_key
from passgate.domain.identifiers import canonical_identifier

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

logger = logging.getLogger("passgate.migrations")

_users = sa.table(
    "users",
    sa.column("id", sa.String),
    sa.column("connection_id", sa.String),
    sa.column("email", sa.String),
    sa.column("email_key", sa.String),
    sa.column("username", sa.String),
    sa.column("username_key", sa.String),
)
_connections = sa.table("connections", sa.column("id", sa.String), sa.column("name", sa.String))
_attempts = sa.table(
    "login_attempts",
    sa.column("key", sa.String),
    sa.column("subject", sa.String),
    sa.column("identifier", sa.String),
    sa.column("user_id", sa.String),
    sa.column("ip", sa.String),
    sa.column("connection", sa.String),
    sa.column("failures", sa.Integer),
    sa.column("reserved", sa.Integer),
    sa.column("reserved_until", sa.Float),
    sa.column("last_failure", sa.Float),
)


def _rekey_users(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_users.c.id, _users.c.email, _users.c.username)).all()
    for user_id, email, username in rows:
        values = {
            "email_key": canonical_identifier(email),
            "username_key": canonical_identifier(username) if username else None,
        }
        try:
            with bind.begin_nested():
                bind.execute(_users.update().where(_users.c.id == user_id).values(**values))
        except sa.exc.IntegrityError:
            # Two accounts of one connection that only differ in a compatibility form:
            # the older keeps the key, this one keeps its exact old key.
            logger.warning("user %s keeps its lookup key: another account has its form", user_id)


def _rekey_attempts(bind: sa.Connection) -> None:
    connections = {name: cid for cid, name in bind.execute(sa.select(_connections)).all()}
    rows = bind.execute(sa.select(_attempts)).mappings().all()
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        mode = str(row["key"]).split(":", 1)[0]
        ident = canonical_identifier(row["identifier"])
        connection_id = connections.get(row["connection"])
        found = None
        if connection_id is not None:
            found = bind.execute(
                sa.select(_users.c.id, _users.c.email).where(
                    _users.c.connection_id == connection_id,
                    sa.or_(_users.c.email_key == ident, _users.c.username_key == ident),
                )
            ).first()
        try:
            key = attempt_key(
                mode,
                row["connection"],
                ident,
                row["ip"] or "0.0.0.0",
                user_id=found[0] if found else None,
                shown_as=found[1] if found else None,
            )
        except ValueError:
            continue  # an unknown mode: nothing reads it
        ip = key.ip if row["ip"] is not None else None
        new = merged.setdefault(
            key.key,
            {
                "key": key.key,
                "subject": key.subject,
                "identifier": key.label,
                "user_id": key.user_id,
                "ip": ip,
                "connection": key.connection,
                "failures": 0,
                "reserved": 0,
                "reserved_until": 0.0,
                "last_failure": 0.0,
            },
        )
        new["failures"] = max(new["failures"], int(row["failures"]))
        new["last_failure"] = max(new["last_failure"], float(row["last_failure"]))
    bind.execute(_attempts.delete())
    if merged:
        bind.execute(_attempts.insert(), list(merged.values()))


def upgrade() -> None:
    bind = op.get_bind()
    _rekey_users(bind)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subject", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f("ix_login_attempts_identifier"))
        batch_op.create_index(batch_op.f("ix_login_attempts_subject"), ["subject"], unique=False)
    _rekey_attempts(bind)


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_subject"))
        batch_op.create_index(
            batch_op.f("ix_login_attempts_identifier"), ["identifier"], unique=False
        )
        batch_op.drop_column("user_id")
        batch_op.drop_column("subject")
