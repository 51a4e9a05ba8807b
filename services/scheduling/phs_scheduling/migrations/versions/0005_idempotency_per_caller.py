"""Request ids belong to their caller: the caller's subject joins the key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from phs_runtime.idempotency import scope_keys_to_callers, unscope_keys

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    scope_keys_to_callers(op)


def downgrade() -> None:
    unscope_keys(op)
