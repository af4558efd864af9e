"""signing keys sealed under a key-encryption key

Revision ID: 0003
Revises: 0002

Adds the id of the key-encryption key that sealed each signing key. Rows written before
have none: their private JWK is still plain JSON, and the first start that has a
key-encryption key seals them (``KeyRing.ensure``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signing_keys", sa.Column("kek_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("kek_id")
