"""users' profile: given and family name, nickname, picture, user metadata

Revision ID: 0004_user_profile
Revises: 0003

Sign-up takes Auth0's profile fields and stores them here. Every column is nullable: the
users created before have no profile, and read with an empty one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_user_profile"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("given_name", sa.String(length=150), nullable=True))
        batch.add_column(sa.Column("family_name", sa.String(length=150), nullable=True))
        batch.add_column(sa.Column("nickname", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("picture", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("user_metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for column in ("user_metadata", "picture", "nickname", "family_name", "given_name"):
            batch.drop_column(column)
