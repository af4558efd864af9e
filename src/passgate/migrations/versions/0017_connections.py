"""connections in Auth0's shape: options, enabled clients, password history

Revision ID: 0017_connections
Revises: 0016_log_streams

Database connections get Auth0's ``strategy`` (always ``auth0``), ``display_name`` and
``options`` (a JSON object: password policy, history, dictionary, personal info, sign-up,
usernames, brute-force protection), which clients may use them (``connection_clients``),
and users the hashes of their previous passwords (``password_history``, argon2 hashes in a
TEXT column).

Existing data keeps today's behaviour: every connection there is gets
``passwordPolicy: low`` with ``password_complexity_options.min_length: 8`` (the fixed rule
passgate had: at least 8 characters), sign-up on, brute-force protection on, and every
existing client enabled; the users stay in their connections. No history is kept until a
connection enables it.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0017_connections"
down_revision = "0016_log_streams"
branch_labels = None
depends_on = None

#: ``passgate.domain.connection_options.MIGRATED_OPTIONS`` as it was at this revision.
_MIGRATED_OPTIONS = {
    "passwordPolicy": "low",
    "password_complexity_options": {"min_length": 8},
    "brute_force_protection": True,
    "disable_signup": False,
}


def upgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.add_column(
            sa.Column("strategy", sa.String(length=32), nullable=False, server_default="auth0")
        )
        batch.add_column(sa.Column("display_name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("options", sa.Text(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.Float(), nullable=True))
    op.create_table(
        "connection_clients",
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_connection_clients_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_connection_clients_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "client_id", name=op.f("pk_connection_clients")),
    )
    op.create_index("ix_connection_clients_client_id", "connection_clients", ["client_id"])
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index("ix_password_history_user_id", "password_history", ["user_id", "created_at"])
    op.execute(
        sa.text("UPDATE connections SET options = :options").bindparams(
            options=json.dumps(_MIGRATED_OPTIONS, separators=(",", ":"))
        )
    )
    op.execute(
        "INSERT INTO connection_clients (connection_id, client_id) "
        "SELECT connections.id, clients.client_id FROM connections CROSS JOIN clients"
    )


def downgrade() -> None:
    op.drop_index("ix_password_history_user_id", table_name="password_history")
    op.drop_table("password_history")
    op.drop_index("ix_connection_clients_client_id", table_name="connection_clients")
    op.drop_table("connection_clients")
    # A plain ALTER TABLE (SQLite 3.35+ has DROP COLUMN): a batch copy of the table would
    # drop it, which the users' foreign key refuses.
    for column in ("updated_at", "options", "display_name", "strategy"):
        op.execute(f"ALTER TABLE connections DROP COLUMN {column}")
