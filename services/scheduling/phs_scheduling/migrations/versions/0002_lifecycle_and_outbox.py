"""Appointment lifecycle (cancellation details, reschedule links) and the
transactional outbox for appointment events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("appointments", sa.Column("cancel_reason", sa.String(32), nullable=True))
    op.add_column("appointments", sa.Column("cancelled_by", sa.String(16), nullable=True))
    op.add_column("appointments", sa.Column("cancel_late", sa.Boolean, nullable=True))
    op.add_column("appointments", sa.Column("cancel_time", TS, nullable=True))
    op.add_column("appointments", sa.Column("rescheduled_from_id", sa.String(64), nullable=True))
    op.add_column("appointments", sa.Column("rescheduled_to_id", sa.String(64), nullable=True))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("published_time", TS, nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_time", "id"])


def downgrade() -> None:
    op.drop_table("outbox")
    for col in (
        "rescheduled_to_id",
        "rescheduled_from_id",
        "cancel_time",
        "cancel_late",
        "cancelled_by",
        "cancel_reason",
    ):
        op.drop_column("appointments", col)
