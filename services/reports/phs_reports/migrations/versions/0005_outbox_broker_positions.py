"""Where the broker acknowledged each outbox message, to notice a broker that lost it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from phs_runtime.outbox import add_broker_positions, drop_broker_positions

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_broker_positions(op)


def downgrade() -> None:
    drop_broker_positions(op)
