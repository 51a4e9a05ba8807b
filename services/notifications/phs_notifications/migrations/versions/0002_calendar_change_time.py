"""The time of each calendar event's latest change, so that an older change read after
a newer one (events of a moved appointment come in any order) sends nothing; and the
indexes that update a calendar event's rows together and find later messages about it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
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
    # NULL for entries written before: no change of theirs counts as older.
    op.add_column("calendar_entries", sa.Column("change_time", TS, nullable=True))
    op.create_index("ix_calendar_entries_uid", "calendar_entries", ["uid"])
    op.create_index("ix_deliveries_uid", "deliveries", ["uid", "recipient", "sequence"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_uid", table_name="deliveries")
    op.drop_index("ix_calendar_entries_uid", table_name="calendar_entries")
    with op.batch_alter_table("calendar_entries") as batch:
        batch.drop_column("change_time")
