"""log streams: where events are delivered, and how far each stream got

Revision ID: 0016_log_streams
Revises: 0015_event_rollups

Auth0's log streams of type ``http``: each row holds the receiver (endpoint, content type
and format, an authorization header sealed under the key-encryption key), the categories
it wants, its status, and its delivery state (a cursor into the event log, the lease of
the process delivering it, failures and the next retry).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_log_streams"
down_revision = "0015_event_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_streams",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(2048), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content_format", sa.String(16), nullable=False),
        sa.Column("authorization_sealed", sa.Text(), nullable=True),
        sa.Column("authorization_kek_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("cursor_seq", sa.Integer(), nullable=False),
        sa.Column("cursor_log_id", sa.String(64), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.Float(), nullable=True),
        sa.Column("retry_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_log_streams"),
    )


def downgrade() -> None:
    op.drop_table("log_streams")
