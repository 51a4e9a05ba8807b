"""Initial notifications schema: the durable schedule of sends, processed events,
calendar entries, preferences, the audit log and request ids.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from phs_runtime.audit import create_audit_log

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("appointment", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("offset_s", sa.Integer, nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("due_time", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False, server_default=""),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unconfirmed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("session_type", sa.String(200), nullable=False),
        sa.Column("appointment_state", sa.String(16), nullable=False),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=False),
        sa.Column("previous_start_time", TS, nullable=True),
        sa.Column("uid", sa.String(100), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("update_time", TS, nullable=False),
        sa.Column("sent_time", TS, nullable=True),
        sa.UniqueConstraint("appointment", "kind", "offset_s", "recipient", name="uq_deliveries_identity"),
        sa.CheckConstraint(
            "state IN ('PENDING', 'SENDING', 'SENT', 'SKIPPED', 'FAILED')", name="deliveries_state_known"
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "due_time"])
    op.create_index("ix_deliveries_appointment", "deliveries", ["appointment"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("process_time", TS, nullable=False),
    )
    op.create_table(
        "calendar_entries",
        sa.Column("appointment", sa.String(200), primary_key=True),
        sa.Column("uid", sa.String(100), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_table(
        "client_preferences",
        sa.Column("client", sa.String(200), primary_key=True),
        sa.Column("email_enabled", sa.Boolean, nullable=False),
        sa.Column("reminder_offsets", sa.Text, nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default=""),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_table(
        "psychologist_preferences",
        sa.Column("psychologist", sa.String(200), primary_key=True),
        sa.Column("new_request_emails", sa.Boolean, nullable=False),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("update_time", TS, nullable=False),
    )
    create_audit_log(op)
    # AIP-155 request ids of preference updates, per caller.
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(200), primary_key=True),
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("create_time", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("audit_events")
    op.drop_table("psychologist_preferences")
    op.drop_table("client_preferences")
    op.drop_table("calendar_entries")
    op.drop_table("processed_events")
    op.drop_table("deliveries")
