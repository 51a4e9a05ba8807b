"""Each psychologist's private calendar feed: the hash of its secret (never the secret),
what its events say about clients, and when its address was made.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("psychologist_id", sa.String(64), sa.ForeignKey("psychologists.id"), primary_key=True),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("client_detail", sa.String(16), nullable=False),
        sa.Column("rotate_time", TS, nullable=True),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_index("ix_calendar_feeds_secret_hash", "calendar_feeds", ["secret_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_calendar_feeds_secret_hash", table_name="calendar_feeds")
    op.drop_table("calendar_feeds")
