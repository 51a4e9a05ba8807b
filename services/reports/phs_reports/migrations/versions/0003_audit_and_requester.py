"""The append-only audit log; who requested each job.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from phs_runtime.audit import create_audit_log

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_log(op)
    # Jobs created before authentication existed belong to no one but admins.
    op.add_column("reports", sa.Column("requester", sa.String(200), nullable=False, server_default=""))
    op.add_column("reports", sa.Column("requester_role", sa.String(20), nullable=False, server_default=""))
    op.create_index("ix_reports_requester", "reports", ["requester", "create_time", "id"])


def downgrade() -> None:
    op.drop_index("ix_reports_requester", "reports")
    op.drop_column("reports", "requester_role")
    op.drop_column("reports", "requester")
    op.drop_table("audit_events")
