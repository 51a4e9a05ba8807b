"""The append-only audit log; clients listed by their psychologist.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

from phs_runtime.audit import create_audit_log

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_log(op)
    op.create_index("ix_clients_psychologist", "clients", ["psychologist_id", "create_time", "id"])


def downgrade() -> None:
    op.drop_index("ix_clients_psychologist", "clients")
    op.drop_table("audit_events")
