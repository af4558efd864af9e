"""event search: indexes for the log searches of the Management API

Revision ID: 0006_event_search
Revises: 0005_client_grants

``GET /api/v2/logs`` finds events by type, IP, user and client, newest first, on millions
of events: one index per field on (field, date, seq) lets each such search read only the
page it answers (``seq`` breaks ties and orders checkpoint paging). The one on (type,
date, seq) replaces the one on type alone, which it covers. Building them reads the
whole table once (a few seconds per million events).
"""

from __future__ import annotations

from alembic import op

revision = "0006_event_search"
down_revision = "0005_client_grants"
branch_labels = None
depends_on = None

_FIELDS = ("type", "ip", "user_id", "client_id")


def upgrade() -> None:
    op.drop_index("ix_events_type", table_name="events")
    for field in _FIELDS:
        op.create_index(f"ix_events_{field}_date", "events", [field, "date", "seq"])


def downgrade() -> None:
    for field in _FIELDS:
        op.drop_index(f"ix_events_{field}_date", table_name="events")
    op.create_index("ix_events_type", "events", ["type"])
