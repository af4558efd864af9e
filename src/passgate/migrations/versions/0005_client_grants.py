"""client grants, and the system API flag

Revision ID: 0005_client_grants
Revises: 0004_user_profile

From this revision on, ``client_credentials`` issues a token for an API only to a client
granted that API (a row of ``client_grants``), and only the grant's scopes. Before, any
client allowed that grant type got a token for every API, with every scope it defines; so
that the machine-to-machine clients already there keep working, each of them gets a grant
for each API there is, with all of that API's scopes.

``apis.is_system`` marks passgate's own Management API, which every start creates (at most
one: a partial unique index). The downgrade deletes it with the grants: an older passgate
would treat it as an ordinary API, which the next upgrade would then grant in full to
every machine-to-machine client.
"""

from __future__ import annotations

import json
import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0005_client_grants"
down_revision = "0004_user_profile"
branch_labels = None
depends_on = None

_clients = sa.table("clients", sa.column("client_id", sa.String), sa.column("grant_types", sa.Text))
_apis = sa.table(
    "apis",
    sa.column("id", sa.String),
    sa.column("scopes", sa.Text),
    sa.column("created_at", sa.Float),
    sa.column("is_system", sa.Boolean),
)
_grants = sa.table(
    "client_grants",
    sa.column("id", sa.String),
    sa.column("client_id", sa.String),
    sa.column("api_id", sa.String),
    sa.column("scope", sa.Text),
    sa.column("created_at", sa.Float),
    sa.column("updated_at", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("apis") as batch:
        batch.add_column(
            sa.Column("is_system", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "uq_apis_is_system",
        "apis",
        ["is_system"],
        unique=True,
        sqlite_where=sa.text("is_system"),
        postgresql_where=sa.text("is_system"),
    )
    op.create_table(
        "client_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("api_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"],
            ["apis.id"],
            name=op.f("fk_client_grants_api_id_apis"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name=op.f("fk_client_grants_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_grants")),
        sa.UniqueConstraint("client_id", "api_id", name="uq_client_grants_client_api"),
    )
    op.create_index("ix_client_grants_api_id", "client_grants", ["api_id"])
    _grant_what_client_credentials_gave()


def _grant_what_client_credentials_gave() -> None:
    """Each client allowed ``client_credentials``: a grant for each API, all its scopes."""
    bind = op.get_bind()
    machines = [
        row.client_id
        for row in bind.execute(sa.select(_clients.c.client_id, _clients.c.grant_types))
        if "client_credentials" in json.loads(row.grant_types)
    ]
    apis = bind.execute(sa.select(_apis.c.id, _apis.c.scopes).order_by(_apis.c.created_at)).all()
    now = time.time()
    rows = [
        {
            # As passgate names grants: in creation order, then random.
            "id": f"cgr_{int(now * 1000):011x}{secrets.token_hex(4)}",
            "client_id": client_id,
            "api_id": api.id,
            "scope": json.dumps(list(dict.fromkeys(json.loads(api.scopes)))),
            "created_at": now,
            "updated_at": now,
        }
        for client_id in machines
        for api in apis
    ]
    if rows:
        op.bulk_insert(_grants, rows)


def downgrade() -> None:
    op.drop_index("ix_client_grants_api_id", table_name="client_grants")
    op.drop_table("client_grants")
    op.execute(_apis.delete().where(_apis.c.is_system == sa.true()))
    op.drop_index("uq_apis_is_system", table_name="apis")
    with op.batch_alter_table("apis") as batch:
        batch.drop_column("is_system")
