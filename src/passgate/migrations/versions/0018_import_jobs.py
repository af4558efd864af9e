"""jobs: user imports and exports, and the rows an import refused

Revision ID: 0018_import_jobs
Revises: 0013_client_profile

Auth0's ``/api/v2/jobs``: ``POST /jobs/users-imports`` and ``POST /jobs/users-exports``
start a job, ``GET /jobs/{id}`` tells how it went, ``GET /jobs/{id}/errors`` lists the rows
an import refused. Imported password hashes go to ``users.password_hash`` as they are
(the column is unchanged), until the user's first login replaces them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_import_jobs"
down_revision = "0013_client_profile"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("status_details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_table(
        "job_errors",
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_errors_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "row", name="pk_job_errors"),
    )


def downgrade() -> None:
    op.drop_table("job_errors")
    op.drop_table("jobs")
