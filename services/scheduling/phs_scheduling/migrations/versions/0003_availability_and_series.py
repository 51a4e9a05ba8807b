"""Availability per psychologist and weekly series (occurrences are appointments).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "availability",
        sa.Column("psychologist_id", sa.String(64), sa.ForeignKey("psychologists.id"), primary_key=True),
        # The Availability message (weekly hours, overrides, policy), serialized.
        sa.Column("spec", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("psychologist_id", sa.String(64), sa.ForeignKey("psychologists.id"), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("session_type_code", sa.String(32), sa.ForeignKey("session_types.code"), nullable=False),
        sa.Column("first_start_time", TS, nullable=False),
        sa.Column("interval_weeks", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("create_time", TS, nullable=False),
    )
    op.add_column("appointments", sa.Column("series_id", sa.String(64), nullable=True))
    op.add_column("appointments", sa.Column("original_start_time", TS, nullable=True))
    op.create_index("ix_appointments_series", "appointments", ["series_id", "start_time"])


def downgrade() -> None:
    op.drop_index("ix_appointments_series", "appointments")
    op.drop_column("appointments", "original_start_time")
    op.drop_column("appointments", "series_id")
    op.drop_table("series")
    op.drop_table("availability")
