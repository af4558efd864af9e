"""clients' profile: description, logo, callback and origin URLs, client_metadata

Revision ID: 0013_client_profile
Revises: 0007_users_stats_keys

What Auth0's clients carry about themselves and SDKs send when they make one
(``description``, ``logo_uri``, ``callbacks``, ``allowed_logout_urls``, ``web_origins``,
``allowed_origins``, ``client_metadata``), kept as one JSON object. passgate stores and
shows them; it has no redirect-based flow that would act on the URLs. Existing clients
have none (NULL reads as an empty profile).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_client_profile"
down_revision = "0007_users_stats_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("profile", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("profile")
