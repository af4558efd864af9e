"""administrators of the admin console, and their sessions

Revision ID: 0014_admins
Revises: 0018_import_jobs

Administrators (``passgate admins create``) are kept apart from end users: their own
table, their own roles (``admin``, ``viewer``). A console session is stored by a keyed
digest of its cookie's token, never the token; removing an administrator ends its
sessions (the foreign key cascades).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_admins"
down_revision = "0018_import_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_login_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admins")),
        sa.UniqueConstraint("email_key", name=op.f("uq_admins_email_key")),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_digest", sa.String(length=128), nullable=False),
        sa.Column("admin_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admins.id"],
            name=op.f("fk_admin_sessions_admin_id_admins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_admin_sessions")),
    )
    op.create_index(
        op.f("ix_admin_sessions_admin_id"), "admin_sessions", ["admin_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_admin_sessions_admin_id"), table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admins")
