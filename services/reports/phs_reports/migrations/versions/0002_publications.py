"""Count how often a job was published (the sweeper re-publishes stuck jobs);
keep an export's file; say when a result expires.

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


def upgrade() -> None:
    op.add_column("reports", sa.Column("publications", sa.Integer, nullable=False, server_default="1"))
    op.add_column("reports", sa.Column("content", sa.LargeBinary, nullable=True))
    op.add_column("reports", sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("reports", sa.Column("progress", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("reports", "progress")
    op.drop_column("reports", "expire_time")
    op.drop_column("reports", "content")
    op.drop_column("reports", "publications")
