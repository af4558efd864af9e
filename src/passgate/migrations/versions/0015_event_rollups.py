"""the attack dashboard's hourly aggregates and the security alerts sent

Revision ID: 0015_event_rollups
Revises: 0014_admins

``rollup_hourly`` (events per hour and metric), ``rollup_ips`` and ``rollup_accounts``
(per IP and per account, by hour and by day, each with an index that serves a window's
top list alone) are kept up to date from the event log by
``storage/event_rollups``, which moves ``rollup_cursors``' one row ("events") in the same
transaction as the counts it adds. The cursor starts at 0: the first rollup counts the
events already in the log. ``security_alerts`` holds one row per alert kind and hour, the
claim that makes one alert of a kind go out per hour whatever the number of processes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_event_rollups"
down_revision = "0014_admins"
branch_labels = None
depends_on = None


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade() -> None:
    cursors = op.create_table(
        "rollup_cursors",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_cursors"),
    )
    op.bulk_insert(cursors, [{"name": "events", "seq": 0, "updated_at": 0.0}])
    op.create_table(
        "rollup_hourly",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "metric", name="pk_rollup_hourly"),
    )
    op.create_table(
        "rollup_ips",
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        *_counts("failed_logins", "signups", "blocks", "breached", "total"),
        sa.PrimaryKeyConstraint("width", "bucket", "ip", name="pk_rollup_ips"),
    )
    op.create_table(
        "rollup_accounts",
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(320), nullable=False),
        *_counts("failed_logins", "blocks", "breached", "total"),
        sa.PrimaryKeyConstraint("width", "bucket", "account", name="pk_rollup_accounts"),
    )
    op.create_index("ix_rollup_ips_ip", "rollup_ips", ["width", "ip", "bucket", "total"])
    op.create_index(
        "ix_rollup_accounts_account",
        "rollup_accounts",
        ["width", "account", "bucket", "total"],
    )
    op.create_table(
        "security_alerts",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "hour", name="pk_security_alerts"),
    )


def downgrade() -> None:
    for table in (
        "security_alerts",
        "rollup_accounts",
        "rollup_ips",
        "rollup_hourly",
        "rollup_cursors",
    ):
        op.drop_table(table)
