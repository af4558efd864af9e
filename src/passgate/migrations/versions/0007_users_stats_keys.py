"""users' app_metadata, revoked signing keys, indexes for user lookups and daily stats

Revision ID: 0007_users_stats_keys
Revises: 0006_event_search

For the Management API's ``users``, ``stats`` and ``keys/signing``:

- ``users.app_metadata``: what administrators keep about a user (a JSON object);
- ``users.email_key`` and ``users.username_key`` indexed alone, for lookups across
  connections (``users-by-email``, user search);
- ``signing_keys.revoked_at``: a revoked key is no longer published and its tokens are
  refused;
- daily stats and active users count one type of event over a date range with
  ``ix_events_type_date`` (made by 0006).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_users_stats_keys"
down_revision = "0006_event_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("app_metadata", sa.Text(), nullable=True))
    op.create_index("ix_users_email_key", "users", ["email_key"])
    op.create_index("ix_users_username_key", "users", ["username_key"])
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("revoked_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("revoked_at")
    op.drop_index("ix_users_username_key", table_name="users")
    op.drop_index("ix_users_email_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("app_metadata")
